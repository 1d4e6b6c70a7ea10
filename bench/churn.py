"""Churn (SPEC §5, §11, §12): ddmm's requote policy vs naive cancel-all-and-replace.

Setup, identical for both policies: the recorded Binance file (rescaled to ADA ≈ 0.45, tick
0.0001) drives `build_ladder` with the default quote config; each policy trades against an
idealised exchange where an accepted request takes effect at once, behind its own
`ddmm.oms.token_bucket.TokenBucket` sized by the default `limiter:` config (at most 5
requests in any 1 s window). A request that finds no token is not sent and costs nothing.

- ddmm: on every tick the target is throttled by `requote_due`, diffed against the live
  orders, and the intents are sent in the diff's order until the bucket refuses one; the
  rest are recomputed on the next tick.
- naive: on every change of the target ladder (any price or size) it queues one cancel-all
  (one request, one token) and then every level of the new ladder, inner layers first, bids
  and asks alternating; the queue drains as tokens allow, and a newer target replaces what
  is still queued (it never places a stale level).

Metrics are time-weighted over the whole replay, against the current target (the ladder
of the latest tick), per side on our best live price:

- quote uptime: share of time with BOTH sides live and each best within 2·s_base bps of
  the target's best (SPEC §12).
- tracking error (`tracking_error_bps_*`, the acceptance figure): mean over time and both
  sides of |our best − target best| in bps, where a side with no live quote is not tracking
  and counts as `missing_side_penalty_bps` = 2·s_base, the edge of the uptime band.
- `tracking_error_quoted_bps_*`: the same mean over only the time each side has a quote
  (no penalty), reported alongside so the choice above is visible;
  `quoted_side_share_*` is the share of side-time with a live quote.
- context for the deeper layers, which the figures above do not see:
  `live_orders_mean_*` (time-weighted count of live orders, 20 for a full ladder) and
  `depth_error_bps_*` (time-weighted mean |price − its layer's target| of live layer 1+
  orders, in bps).
- actions: orders + cancels sent; naive's cancel-all counts as one action (its real cost).
  `ratio` = naive actions / ddmm actions.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

import attrs

from bench._common import write_result
from bench._replay import apply, recorded_frames
from ddmm.config.schema import LimiterConfig, QuoteConfig, RequoteConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Intent, Inventory, Ladder, LiveOrder, PlaceIntent, QuoteLevel
from ddmm.feeds.parse import parse_frame
from ddmm.oms.token_bucket import TokenBucket
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import (
    RequotePolicy,
    ladder_params_from_config,
    requote_policy_from_config,
)
from ddmm.quoting.requote import RequoteMark, diff, requote_due

BPS = Decimal(10_000)
MAX_FRAME_BYTES = 1_048_576
TARGET_RATIO = 5.0
TARGET_UPTIME = 0.99
INVENTORY = Inventory(ada_free=Decimal(20000), ada_locked=Decimal(0),
                      usdm_free=Decimal(9000), usdm_locked=Decimal(0))


class CancelAll:
    """Naive's single cancel-all request."""


@attrs.define
class Account:
    """One policy's orders on the idealised exchange, its rate budget and its score."""

    bucket: TokenBucket
    live: dict[str, LiveOrder] = attrs.field(factory=dict)
    seq: list[int] = attrs.field(factory=lambda: [0])
    orders: int = 0
    cancels: int = 0
    observed_s: float = 0.0
    up_s: float = 0.0
    penalised_err_bps_s: float = 0.0
    quoted_err_bps_s: float = 0.0
    quoted_side_s: float = 0.0
    orders_s: float = 0.0
    depth_err_bps_s: float = 0.0
    depth_orders_s: float = 0.0

    def send(self, request: Intent | CancelAll, now_ns: int, limits: LimiterConfig) -> bool:
        """Send `request` if the bucket has the tokens for it; False (nothing sent) if not."""
        if isinstance(request, CancelAll):
            cost = limits.cost_cancel_all
        else:
            cost = limits.cost_place if isinstance(request, PlaceIntent) else limits.cost_cancel
        if not self.bucket.try_take(cost, now_ns / 1e9):
            return False
        if isinstance(request, CancelAll):
            self.cancels += 1
            self.live.clear()
        else:
            if isinstance(request, PlaceIntent):
                self.orders += 1
            else:
                self.cancels += 1
            apply(self.live, [request], now_ns // 1_000_000, self.seq)
        return True

    def observe(self, target: Ladder, depth: dict[tuple[str, int], Decimal], dt_s: float,
                band_bps: Decimal) -> None:
        """Score the live book against `target` (`depth`: its layer 1+ prices) for `dt_s`."""
        self.observed_s += dt_s
        self.orders_s += len(self.live) * dt_s
        for order in self.live.values():
            price = depth.get((order.side, order.layer))
            if price is not None:
                self.depth_err_bps_s += float(abs(order.price - price) / price * BPS) * dt_s
                self.depth_orders_s += dt_s
        errors: list[Decimal] = []
        for levels, side, best in ((target.bids, "buy", max), (target.asks, "sell", min)):
            prices = [o.price for o in self.live.values() if o.side == side]
            if not prices:
                self.penalised_err_bps_s += float(band_bps) * dt_s
                continue
            err = abs(best(prices) - levels[0].price) / levels[0].price * BPS
            errors.append(err)
            self.penalised_err_bps_s += float(err) * dt_s
            self.quoted_err_bps_s += float(err) * dt_s
            self.quoted_side_s += dt_s
        if len(errors) == 2 and max(errors) <= band_bps:
            self.up_s += dt_s


def _naive_queue(target: Ladder) -> deque[Intent | CancelAll]:
    """Cancel-all, then the whole ladder: inner layers first, bids and asks alternating."""
    places: list[Intent | CancelAll] = []
    for bid, ask in zip(target.bids, target.asks, strict=False):
        places += [_place(bid), _place(ask)]
    longer = target.bids if len(target.bids) > len(target.asks) else target.asks
    places += [_place(lv) for lv in longer[min(len(target.bids), len(target.asks)):]]
    return deque([CancelAll(), *places])


def _place(level: QuoteLevel) -> PlaceIntent:
    return PlaceIntent(side=level.side, price=level.price, qty=level.qty, layer=level.layer)


def simulate(policy: RequotePolicy, quote: QuoteConfig, limits: LimiterConfig
             ) -> tuple[Account, Account, float]:
    """Replay the recording through both policies: (ddmm, naive, replay seconds)."""
    frames = recorded_frames()
    params = ladder_params_from_config(quote)
    band = 2 * quote.s_base_bps
    ddmm, naive = (Account(bucket=TokenBucket(limits.capacity, limits.refill_per_s))
                   for _ in range(2))
    mark: RequoteMark | None = None
    queue: deque[Intent | CancelAll] = deque()
    target: Ladder | None = None
    depth: dict[tuple[str, int], Decimal] = {}
    prev_ns = frames[0][0]
    for recv_ns, frame in frames:
        tick = parse_frame(frame, recv_ns, MAX_FRAME_BYTES)
        if not isinstance(tick, BookTick):
            continue
        if target is not None:
            for account in (ddmm, naive):
                account.observe(target, depth, (recv_ns - prev_ns) / 1e9, band)
        prev_ns = recv_ns
        now_ms = recv_ns // 1_000_000
        new = build_ladder(tick, INVENTORY, params)
        if target is None or (new.bids, new.asks) != (target.bids, target.asks):
            queue = _naive_queue(new)
        target = new
        depth = {(lv.side, lv.layer): lv.price
                 for lv in (*target.bids, *target.asks) if lv.layer > 0}
        if requote_due(mark, target, policy, now_ms):
            mark = RequoteMark(ladder=target, at_ms=now_ms)
        assert mark is not None
        for intent in diff(mark.ladder, list(ddmm.live.values()), policy, now_ms):
            if not ddmm.send(intent, recv_ns, limits):
                break
        while queue and naive.send(queue[0], recv_ns, limits):
            queue.popleft()
    return ddmm, naive, (frames[-1][0] - frames[0][0]) / 1e9


def _figures(account: Account, minutes: float) -> dict[str, float]:
    side_s = 2 * account.observed_s
    return {
        "quote_uptime": round(account.up_s / account.observed_s, 4),
        "actions_per_min": round((account.orders + account.cancels) / minutes, 1),
        "orders_per_min": round(account.orders / minutes, 1),
        "cancels_per_min": round(account.cancels / minutes, 1),
        "tracking_error_bps": round(account.penalised_err_bps_s / side_s, 3),
        "tracking_error_quoted_bps": round(
            account.quoted_err_bps_s / max(account.quoted_side_s, 1e-9), 3),
        "quoted_side_share": round(account.quoted_side_s / side_s, 4),
        "live_orders_mean": round(account.orders_s / account.observed_s, 2),
        "depth_error_bps": round(account.depth_err_bps_s / max(account.depth_orders_s, 1e-9), 3),
    }


def measure(policy: RequotePolicy, quote: QuoteConfig, limits: LimiterConfig
            ) -> dict[str, Any]:
    """The `churn` metrics (SPEC §11 keys plus the ones the module docstring defines)."""
    ddmm, naive, seconds = simulate(policy, quote, limits)
    metrics: dict[str, Any] = {"replay_minutes": round(seconds / 60, 2)}
    for name, account in (("ddmm", ddmm), ("naive", naive)):
        for key, value in _figures(account, seconds / 60).items():
            metrics[f"{key}_{name}"] = value
    metrics["ratio"] = round((naive.orders + naive.cancels)
                             / max(ddmm.orders + ddmm.cancels, 1), 2)
    uptime_ok = metrics["quote_uptime_ddmm"] >= TARGET_UPTIME
    ratio_ok = metrics["ratio"] >= TARGET_RATIO
    metrics["target_met"] = uptime_ok and ratio_ok and (
        metrics["tracking_error_bps_ddmm"] <= metrics["tracking_error_bps_naive"])
    metrics["target_met_on_quoted_time_error"] = uptime_ok and ratio_ok and (
        metrics["tracking_error_quoted_bps_ddmm"] <= metrics["tracking_error_quoted_bps_naive"])
    return metrics


def main() -> None:
    quote, limits = QuoteConfig(), LimiterConfig()
    policy = requote_policy_from_config(RequoteConfig())
    band = 2 * quote.s_base_bps
    write_result("churn", measure(policy, quote, limits), {
        "data": "data/binance-spot/ethusdt_20240808.gz rescaled to 0.45, tick 0.0001",
        "ladder": f"default quote config: {quote.num_layers} layers, step {quote.step_bps} bps",
        "bucket": f"ddmm.oms.token_bucket sliding window: {limits.capacity} per "
                  f"{limits.capacity / limits.refill_per_s:g} s, per policy",
        "cost_place": limits.cost_place, "cost_cancel": limits.cost_cancel,
        "naive_cancel_all_cost": limits.cost_cancel_all,
        "uptime_band_bps": str(band),
        "missing_side_penalty_bps": str(band),
        "tracking_error": "time-weighted over the whole replay, both sides; a side with "
                          "no live quote counts as missing_side_penalty_bps",
        "tracking_error_quoted": "time-weighted over the time each side has a live quote",
        "requote_policy": {k: str(v) for k, v in attrs.asdict(policy).items()},
    })


if __name__ == "__main__":
    main()
