"""How well our live quotes followed the target, and what that cost in actions (SPEC §5,
§11, §12), pure. The definitions are those of the churn benchmark (`bench/churn.py`), here
measured on the orders the bot really had on the book.

- Our book: an order is live from its first audit row into `open`/`partially_filled`
  until its first row into a final state (`filled`, `cancelled`, `rejected`, `failed`);
  while `cancelling` or `unknown` it may still trade, so it still counts. Our best bid is
  the highest live buy price, our best ask the lowest live sell price.
- The target: layer 0 of what the bot was trying to quote, from its own pure quote engine
  and the run's quote config: `build_ladder` over the reference book (its prices and its
  touch sizes, so a microprice anchor is followed), the balances the fills left at that
  instant (γ skews it as it skewed the bot) and the vol spread scale that `quote.vol`
  gives, from the quoter's own σ estimator folded over the reference ticks (on their
  millisecond clock, every tick: the quoter skips only the rare unconfirmed jump beyond
  `feed.max_jump_bps`). The quote guard (toxicity guard, same-side fill breaker) is not
  part of the target but a deviation from it: the target is the static+vol ladder the
  guard starts from, so a widened side counts as tracking error and a paused or pulled
  side as downtime, which is the guard's price, to be weighed against its markouts.
- Scored over [start_ms, end_ms], time-weighted, both sides: a side's error is
  |our best − target best| / target best · 10⁴ bps; a side with no live quote counts as
  the penalty 2·s_base bps, the edge of the uptime band; a side the target leaves empty
  (balance below the exchange minimum) is not scored. `quote_uptime` is the share of time
  with every scored side live and within 2·s_base bps; `tracking_error_bps` the mean
  error over scored side-time with the penalty; `tracking_error_quoted_bps` the same over
  only the side-time with a live quote; `quoted_side_share` that side-time's share.
- A stale reference has no target: once the last reference tick is older than the feed's
  `stale_ms`, the bot's stale rule (SPEC §6) pulls every quote, which is what it should
  do, so that time is not scored at all (neither up nor down); `stale_share` is its share
  of the window. A feed silence shorter than `stale_ms` is scored like any other time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import groupby, pairwise
from operator import attrgetter, itemgetter

import attrs

from ddmm.backtest.account_path import Balances
from ddmm.backtest.timeline import ReferencePath, ReferencePoint, step_index
from ddmm.domain.market import BookTick
from ddmm.domain.money import BPS
from ddmm.domain.orders import FINAL_STATES, LIVE_STATES
from ddmm.domain.quotes import Inventory, Side
from ddmm.persistence.report_queries import OrderStep
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import LadderParams
from ddmm.quoting.skew import ONE, Ratio
from ddmm.quoting.vol import VolEstimate, VolParams, observe, spread_scale

ZERO = Decimal(0)


@attrs.frozen(kw_only=True)
class LiveInterval:
    """One order's time on the book: [start_ms, end_ms), end None while still live."""

    side: Side
    price: Decimal
    start_ms: int
    end_ms: int | None


def live_intervals(steps: Iterable[OrderStep]) -> list[LiveInterval]:
    """Each order's live interval from its audit rows (grouped by order, oldest first)."""
    found = (_live_interval(list(rows)) for _, rows in groupby(steps, key=attrgetter("local_id")))
    return [interval for interval in found if interval is not None]


def _live_interval(rows: list[OrderStep]) -> LiveInterval | None:
    """From the first row into a live state to the first final row after it; None for an
    order that was never live."""
    first = next((i for i, row in enumerate(rows) if row.to_state in LIVE_STATES), None)
    if first is None:
        return None
    opened = rows[first]
    closed = next((row for row in rows[first:] if row.to_state in FINAL_STATES), None)
    return LiveInterval(side=opened.side, price=opened.price, start_ms=opened.ts_ms,
                        end_ms=None if closed is None else closed.ts_ms)


@attrs.frozen
class QuoteStep:
    """Our best bid and ask (None: no live order on that side) from `t_ms` on."""

    t_ms: int
    best_bid: Decimal | None
    best_ask: Decimal | None


def quote_path(intervals: Iterable[LiveInterval], start_ms: int, end_ms: int) -> list[QuoteStep]:
    """Our best bid/ask over [start_ms, end_ms]: a step at start_ms, then one per change."""
    changes: list[tuple[int, int, Side, Decimal]] = []
    for iv in intervals:
        begin = max(iv.start_ms, start_ms)
        end = end_ms if iv.end_ms is None else min(iv.end_ms, end_ms)
        if end > begin:
            changes.append((begin, 1, iv.side, iv.price))
        if end_ms > end > begin:  # it left the book inside the window
            changes.append((end, -1, iv.side, iv.price))
    live: dict[Side, Counter[Decimal]] = {"buy": Counter(), "sell": Counter()}
    path = [QuoteStep(start_ms, None, None)]
    for t_ms, group in groupby(sorted(changes), key=itemgetter(0)):
        for _, delta, side, price in group:
            live[side][price] += delta
        step = QuoteStep(t_ms, max((p for p, n in live["buy"].items() if n > 0), default=None),
                         min((p for p, n in live["sell"].items() if n > 0), default=None))
        if t_ms == start_ms:
            path[0] = step
        elif (step.best_bid, step.best_ask) != (path[-1].best_bid, path[-1].best_ask):
            path.append(step)
    return path


def spread_scales(points: Sequence[ReferencePoint], vol: VolParams) -> list[Ratio]:
    """The vol spread scale after each reference point, as the quoter's estimator gives it
    (`ONE` throughout while `quote.vol` is off)."""
    if not vol.enabled:
        return [ONE] * len(points)
    estimate: VolEstimate | None = None
    scales: list[Ratio] = []
    for point in points:
        estimate = observe(estimate, point.mid, point.t_ms * 1_000_000, vol.halflife_s)
        scales.append(spread_scale(estimate, vol))
    return scales


class TargetBest:
    """Layer 0 of the target ladder (module docstring) at an instant and balances, cached:
    the inputs repeat far more often than the ladder changes."""

    def __init__(self, params: LadderParams, reference: ReferencePath) -> None:
        self._params = params
        self._reference = reference
        self._scales = spread_scales(reference.points, params.vol)
        self._cache: dict[tuple[object, ...], tuple[Decimal | None, Decimal | None]] = {}

    def __call__(self, t_ms: int, bal: Balances) -> tuple[Decimal | None, Decimal | None]:
        index = step_index(self._reference.times, t_ms)
        ref, scale = self._reference.points[index], self._scales[index]
        sizes = (ref.bid_qty, ref.ask_qty) if self._params.anchor == "microprice" else None
        key = (ref.bid, ref.ask, sizes, bal.ada, bal.usdm, scale)
        found = self._cache.get(key)
        if found is None:
            book = BookTick(symbol=self._params.rules.symbol, update_id=0, bid=ref.bid,
                            bid_qty=ref.bid_qty, ask=ref.ask, ask_qty=ref.ask_qty,
                            recv_ns=ref.t_ms * 1_000_000)
            inventory = Inventory(ada_free=bal.ada, ada_locked=ZERO, usdm_free=bal.usdm,
                                  usdm_locked=ZERO)
            ladder = build_ladder(book, inventory, self._params, spread_scale=scale)
            found = (ladder.bids[0].price if ladder.bids else None,
                     ladder.asks[0].price if ladder.asks else None)
            self._cache[key] = found
        return found


@attrs.frozen(kw_only=True)
class TrackingStats:
    """The figures of the module docstring; None when nothing was there to score."""

    quote_uptime: float | None
    tracking_error_bps: float | None
    tracking_error_quoted_bps: float | None
    quoted_side_share: float | None
    stale_share: float | None


@attrs.define
class _Score:
    """Time-weighted sums, in milliseconds and bps·milliseconds."""

    observed_ms: int = 0
    unscored_ms: int = 0
    up_ms: int = 0
    side_ms: int = 0
    quoted_ms: int = 0
    penalised_bps_ms: float = 0.0
    quoted_bps_ms: float = 0.0

    def observe(self, targets: Sequence[Decimal | None], ours: Sequence[Decimal | None],
                dt_ms: int, band_bps: Decimal) -> None:
        if all(target is None for target in targets):
            self.unscored_ms += dt_ms
            return
        self.observed_ms += dt_ms
        scored = up = 0
        for target, best in zip(targets, ours, strict=True):
            if target is None:
                continue
            scored += 1
            self.side_ms += dt_ms
            if best is None:
                self.penalised_bps_ms += float(band_bps) * dt_ms
                continue
            error = abs(best - target) / target * BPS
            self.penalised_bps_ms += float(error) * dt_ms
            self.quoted_bps_ms += float(error) * dt_ms
            self.quoted_ms += dt_ms
            up += error <= band_bps
        if scored and up == scored:
            self.up_ms += dt_ms

    def stats(self) -> TrackingStats:
        def ratio(num: float, den: int) -> float | None:
            return num / den if den else None

        return TrackingStats(
            quote_uptime=ratio(self.up_ms, self.observed_ms),
            tracking_error_bps=ratio(self.penalised_bps_ms, self.side_ms),
            tracking_error_quoted_bps=ratio(self.quoted_bps_ms, self.quoted_ms),
            quoted_side_share=ratio(self.quoted_ms, self.side_ms),
            stale_share=ratio(self.unscored_ms, self.observed_ms + self.unscored_ms))


def tracking(reference: ReferencePath, balances: Sequence[Balances], quotes: Sequence[QuoteStep],
             target: TargetBest, band_bps: Decimal, start_ms: int, end_ms: int, *,
             stale_ms: int | None = None) -> TrackingStats:
    """Score `quotes` against the target over [start_ms, end_ms] (see the module docstring),
    cutting time wherever the reference, the balances or our quotes change, and where the
    reference turns stale (`stale_ms` after a tick with no next one; None: never)."""
    balance_times = [b.t_ms for b in balances]
    quote_times = [q.t_ms for q in quotes]
    ticks = reference.times
    turns_stale = [] if stale_ms is None else [
        t + stale_ms for t, following in zip(ticks, [*ticks[1:], end_ms], strict=True)
        if following - t > stale_ms]
    cuts = sorted({t for t in (*ticks, *balance_times, *quote_times, *turns_stale)
                   if start_ms < t < end_ms} | {start_ms, end_ms})
    score = _Score()
    for begin, end in pairwise(cuts):
        quote = quotes[step_index(quote_times, begin)]
        last_tick = ticks[step_index(ticks, begin)]
        if stale_ms is not None and begin - last_tick >= stale_ms:
            targets: tuple[Decimal | None, Decimal | None] = (None, None)
        else:
            targets = target(begin, balances[step_index(balance_times, begin)])
        score.observe(targets, (quote.best_bid, quote.best_ask), end - begin, band_bps)
    return score.stats()


ORDER_SENT_EVENT = "build_sent"
"""The audit row the executor writes as a place leaves the limiter (`BuildSent`)."""
CANCEL_SENT_EVENT = "cancel_sent"
"""The audit row the OMS writes as it asks for an order's cancellation (`CancelSent`)."""


def max_in_window(times: Sequence[int], window_ms: int = 1000) -> int:
    """Most of `times` (sorted) inside any window [t, t + window_ms)."""
    most = first = 0
    for last, t_ms in enumerate(times):
        while t_ms - times[first] >= window_ms:
            first += 1
        most = max(most, last - first + 1)
    return most
