"""Strategy-quality metrics of a finished run (SPEC §12, §13), from its database and the
reference book it traded against.

Inputs: the run's SQLite database (the bot's own schema) and `RunInputs` — the Binance
best bid/ask over time, the run's window [start_ms, end_ms] on the database's clock, the
starting balances and the quote parameters. Only fills the bot counts (not quarantined)
within the window count. "mid" is the reference mid in force at an instant (the last tick
at or before it; the first tick before the first). Money is reported as decimal strings
to 6 places, statistics as floats to 6 places, None when there was nothing to measure,
so the same database and inputs always give the same dict.

Quoting (`quoting_quality` has the details; the churn benchmark's definitions):
- quote_uptime: share of the window (less the time the reference is stale, `stale_share`,
  when the bot must not quote) with both sides live and each best within
  2·s_base bps of its target (layer 0 of the bot's `build_ladder` for the reference book,
  its touch sizes, the balances at that instant and the `quote.vol` spread scale of the
  quoter's own estimator over the reference). The quote guard's widenings and pauses are
  not in the target: they count as tracking error and downtime.
- tracking_error_bps: time-weighted mean over both sides of |our best − target| in bps of
  the target; a side with no live quote counts as 2·s_base bps.
  tracking_error_quoted_bps and quoted_side_share: the same without the penalty, and the
  share of side-time with a quote.
- orders_per_min: places sent (audit rows `build_sent`, written as a place leaves the rate
  limiter) per minute of the window; cancels_per_min: cancellations asked for (audit rows
  `cancel_sent`; an order cleared by a cancel-all counts once, so this bounds the cancel
  requests from above); actions_per_min: their sum; max_actions_in_any_1s: most of those
  rows in any window [t, t + 1 s). Cancels are stamped when the OMS decides them, before
  the rate limiter spaces them out, so this overstates bursts; the backtest report's
  `exchange.max_order_requests_in_any_1s` is what the exchange's rate limit really met.

Trading (`account_path`):
- fills, volume_ada = Σ q, volume_usdm = Σ q·p.
- fees_usdm: USDM fees + ADA fees valued at the mid at their fill.
- pnl_mtm_usdm: portfolio value at the final mid minus the starting balances' value at the
  first mid (the mid at start_ms); pnl_vs_hold_usdm: final value minus the starting
  balances valued at the final mid, the market maker's own edge.
- pnl_components: cash_flow_usdm + inventory_revaluation_usdm − fees_usdm = pnl_mtm_usdm,
  and pnl_mtm_usdm − hold_revaluation_usdm = pnl_vs_hold_usdm (`PnlComponents`).
- max_drawdown_usdm: largest fall from a running peak of the equity against holding,
  (ada − ada₀)·mid + (usdm − usdm₀), sampled at the start, every reference tick and every
  fill (the instants it can change), starting at 0.
- pnl_std_usdm: population standard deviation of that same equity against holding,
  sampled every second over the window (`hedge_book.pnl_std_usdm`): how much the PnL
  swings, what hedging should shrink. pnl_std_detrended_usdm: the same samples' spread
  around their least-squares line (`hedge_book.pnl_std_detrended_usdm`), so that a steady
  edge or cost does not count as a swing.
- inventory: start/end/min/max ADA along the fill path; mean_abs_gamma, the time-weighted
  mean of |γ| with γ = clip((u − a·M)/(u + a·M), ±γ_max) as `quoting.skew` computes it
  (whether or not skew is enabled, as a measure of imbalance); half_life_s from an AR(1)
  fit of ADA sampled every 1 s, ln 0.5 / ln φ, None unless 0 < φ < 1.

Fills against the mid (`fill_quality`; bps of the mid at the fill, volume-weighted by ADA
quantity, positive when in our favour):
- markout_bps[h] for h in 1, 5, 10, 30, 60, 300 s: s·(mid(t + h) − p)/mid(t); a fill whose
  t + h is past the last reference tick is left out of that horizon (markout_fills[h] says
  how many fills each horizon covers).
- spread_capture_bps: s·(mid(t) − p)/mid(t), over every fill (markout at 0 s).
- realized_spread_bps: markout at 60 s less the fee in bps, over the fills it covers.

hedging: the Binance hedges and the combined book, when the run hedged (`hedge_metrics`).

halts: each risk event in the window that stops quoting — every kind but
`session_started`, `resume`, `normal` (the risk state back to normal) and the `*_cleared`
events — as {kind, reason, t_ms, t_s}; a stale feed's spells among them (`feed_stale`).

guard_events: the quote guard's changes in the window (SPEC §15, issue 14), counted by
kind and side: {"toxicity_widen": {"sell": 2}, "breaker_tripped": {"buy": 1}, …}.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from ddmm.backtest import account_path as acct
from ddmm.backtest import fill_quality as fq
from ddmm.backtest import hedge_book as hb
from ddmm.backtest import hedge_metrics as hm
from ddmm.backtest import quoting_quality as qq
from ddmm.backtest.figures import money as _money
from ddmm.backtest.figures import num as _num
from ddmm.backtest.timeline import ReferencePath, ReferencePoint
from ddmm.config.schema import QuoteConfig
from ddmm.domain.market import ADAUSDM, MarketRules
from ddmm.domain.records import FillRecord
from ddmm.oms.risk import RiskMode
from ddmm.persistence import queries, report_queries
from ddmm.quoting.params import LadderParams, ladder_params_from_config

__all__ = ["ReferencePoint", "ReportSeries", "RunInputs", "compute_metrics", "counted_fills",
           "metrics_and_series", "report_series"]


def _points(value: Iterable[ReferencePoint]) -> tuple[ReferencePoint, ...]:
    return tuple(value)


def _not_before_start(instance: RunInputs, _: object, value: int) -> None:
    if value < instance.start_ms:
        raise ValueError("end_ms must not be before start_ms")


@attrs.frozen(kw_only=True)
class RunInputs:
    """What the metrics need besides the database. `reference` in time order, on the same
    millisecond clock as the database's `ts_ms`; `ladder` the run's quote parameters (see
    `for_quote_config`); `s_base_bps` sets the uptime band, 2·s_base."""

    reference: tuple[ReferencePoint, ...] = attrs.field(converter=_points)
    start_ms: int
    end_ms: int = attrs.field(validator=_not_before_start)
    start_ada: Decimal
    start_usdm: Decimal
    s_base_bps: Decimal
    ladder: LadderParams
    stale_ms: int | None = None
    """The feed's staleness limit: reference silences beyond it are not scored (None: none)."""

    @classmethod
    def for_quote_config(cls, quote: QuoteConfig, rules: MarketRules = ADAUSDM, *,
                         reference: Iterable[ReferencePoint], start_ms: int, end_ms: int,
                         start_ada: Decimal, start_usdm: Decimal) -> RunInputs:
        """The inputs of a run quoting with `quote` on the market `rules`."""
        return cls(reference=reference, start_ms=start_ms, end_ms=end_ms,
                   start_ada=start_ada, start_usdm=start_usdm, s_base_bps=quote.s_base_bps,
                   ladder=ladder_params_from_config(quote, rules))

    @property
    def band_bps(self) -> Decimal:
        return 2 * self.s_base_bps


def counted_fills(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> list[FillRecord]:
    """The fills the bot counts (not quarantined) within [start_ms, end_ms], oldest first."""
    return [f for f in queries.fills(conn, since_ms=start_ms)
            if not f.quarantined and f.ts_ms <= end_ms]


@attrs.frozen(kw_only=True)
class _Run:
    """Everything the metrics and the plot derive from, read once."""

    reference: ReferencePath
    fills: list[acct.PricedFill]
    balances: list[acct.Balances]
    samples: list[acct.AccountSample]
    quotes: list[qq.QuoteStep]
    hedges: hm.Hedges | None

    @classmethod
    def load(cls, conn: sqlite3.Connection, inputs: RunInputs) -> _Run:
        reference = ReferencePath(inputs.reference)
        fills = acct.price_fills(counted_fills(conn, inputs.start_ms, inputs.end_ms),
                                 reference, inputs.ladder.rules.base_asset)
        start = acct.Balances(t_ms=inputs.start_ms, ada=inputs.start_ada, usdm=inputs.start_usdm)
        intervals = qq.live_intervals(report_queries.order_steps(conn))
        return cls(reference=reference, fills=fills, balances=acct.balance_path(start, fills),
                   samples=acct.account_samples(start, fills, reference, inputs.end_ms),
                   quotes=qq.quote_path(intervals, inputs.start_ms, inputs.end_ms),
                   hedges=hm.Hedges.load(conn, reference, start, fills, end_ms=inputs.end_ms,
                                         base_asset=inputs.ladder.rules.base_asset))


def compute_metrics(conn: sqlite3.Connection, inputs: RunInputs) -> dict[str, Any]:
    """The §12/§13 metrics of the run in `conn` (definitions in the module docstring),
    JSON-serialisable and a pure function of the database and `inputs`."""
    return _metrics(conn, _Run.load(conn, inputs), inputs)


def metrics_and_series(conn: sqlite3.Connection,
                       inputs: RunInputs) -> tuple[dict[str, Any], ReportSeries]:
    """`compute_metrics` and `report_series` from one reading of the run: the report
    needs both, and reading the run (order trail, fills, account path) is most of the
    work of either."""
    run = _Run.load(conn, inputs)
    return _metrics(conn, run, inputs), _series(run, inputs)


def _metrics(conn: sqlite3.Connection, run: _Run, inputs: RunInputs) -> dict[str, Any]:
    trading = _trading(run, inputs)
    metrics = {
        **_quoting(conn, run, inputs),
        **trading,
        "inventory": _inventory(run, inputs),
        **_fill_quality(run),
        "halts": _halts(conn, inputs),
        "guard_events": report_queries.guard_event_counts(conn, inputs.start_ms, inputs.end_ms),
    }
    if run.hedges is not None:
        metrics["hedging"] = hm.hedging_metrics(run.hedges, run.samples, trading,
                                                run.reference, inputs.end_ms)
    return metrics


def _quoting(conn: sqlite3.Connection, run: _Run, inputs: RunInputs) -> dict[str, Any]:
    stats = qq.tracking(run.reference, run.balances, run.quotes,
                        qq.TargetBest(inputs.ladder, run.reference),
                        inputs.band_bps, inputs.start_ms, inputs.end_ms,
                        stale_ms=inputs.stale_ms)
    orders = report_queries.event_times(conn, qq.ORDER_SENT_EVENT, inputs.start_ms,
                                        inputs.end_ms)
    cancels = report_queries.event_times(conn, qq.CANCEL_SENT_EVENT, inputs.start_ms,
                                         inputs.end_ms)
    minutes = (inputs.end_ms - inputs.start_ms) / 60_000
    return {
        "quote_uptime": _num(stats.quote_uptime),
        "tracking_error_bps": _num(stats.tracking_error_bps),
        "tracking_error_quoted_bps": _num(stats.tracking_error_quoted_bps),
        "quoted_side_share": _num(stats.quoted_side_share),
        "stale_share": _num(stats.stale_share),
        "uptime_band_bps": _num(float(inputs.band_bps)),
        "orders_sent": len(orders),
        "cancels_sent": len(cancels),
        "actions_per_min": _per(len(orders) + len(cancels), minutes),
        "orders_per_min": _per(len(orders), minutes),
        "cancels_per_min": _per(len(cancels), minutes),
        "max_actions_in_any_1s": qq.max_in_window(sorted(orders + cancels)),
    }


def _trading(run: _Run, inputs: RunInputs) -> dict[str, Any]:
    pnl = acct.pnl_components(run.balances[0], run.balances[-1], run.fills,
                              first_mid=run.reference.mid_at(inputs.start_ms),
                              final_mid=run.reference.mid_at(inputs.end_ms))
    return {
        "fills": len(run.fills),
        "volume_ada": _money(sum((f.fill.qty for f in run.fills), Decimal(0))),
        "volume_usdm": _money(sum((f.notional for f in run.fills), Decimal(0))),
        "fees_usdm": _money(pnl.fees_usdm),
        "pnl_mtm_usdm": _money(pnl.pnl_mtm_usdm),
        "pnl_vs_hold_usdm": _money(pnl.pnl_vs_hold_usdm),
        "max_drawdown_usdm": _money(acct.max_drawdown(s.vs_hold_usdm for s in run.samples)),
        "pnl_std_usdm": _num(hb.pnl_std_usdm(run.samples, inputs.start_ms, inputs.end_ms)),
        "pnl_std_detrended_usdm": _num(hb.pnl_std_detrended_usdm(run.samples, inputs.start_ms,
                                                                 inputs.end_ms)),
        "pnl_components": {name: _money(value) for name, value in attrs.asdict(pnl).items()},
    }


def _inventory(run: _Run, inputs: RunInputs) -> dict[str, Any]:
    ada = [b.ada for b in run.balances]
    gamma_max = inputs.ladder.skew.gamma_max
    mean_gamma = acct.time_weighted_mean(run.samples, inputs.end_ms,
                                         lambda s: abs(acct.gamma(s, gamma_max)))
    every_s = acct.sampled_every_s(run.balances, inputs.start_ms, inputs.end_ms)
    return {
        "start_ada": _money(ada[0]), "end_ada": _money(ada[-1]),
        "min_ada": _money(min(ada)), "max_ada": _money(max(ada)),
        "mean_abs_gamma": _num(mean_gamma),
        "half_life_s": _num(acct.ar1_half_life_s(every_s)),
    }


def _fill_quality(run: _Run) -> dict[str, Any]:
    markouts = {h: fq.markout_at(run.fills, run.reference, h) for h in fq.MARKOUT_HORIZONS_S}
    return {
        "markout_bps": {str(h): _num(value) for h, (value, _) in markouts.items()},
        "markout_fills": {str(h): count for h, (_, count) in markouts.items()},
        "spread_capture_bps": _num(fq.spread_capture_bps(run.fills)),
        "realized_spread_bps": _num(fq.realized_spread_bps(run.fills, run.reference)),
    }


_NOT_HALTS = frozenset({queries.SESSION_STARTED, "resume", RiskMode.NORMAL.value})
"""Risk events that stop nothing: a session's start, a resume, a return to normal."""


def _halts(conn: sqlite3.Connection, inputs: RunInputs) -> list[dict[str, Any]]:
    events = report_queries.risk_events_between(conn, inputs.start_ms, inputs.end_ms)
    return [{"kind": e.kind, "reason": e.reason, "t_ms": e.ts_ms,
             "t_s": _num((e.ts_ms - inputs.start_ms) / 1000)}
            for e in events if e.kind not in _NOT_HALTS and not e.kind.endswith("_cleared")]


def _per(count: int, minutes: float) -> float | None:
    return _num(count / minutes) if minutes > 0 else None


Floats = tuple[float, ...]
_NAN = float("nan")


@attrs.frozen(kw_only=True)
class ReportSeries:
    """What the report's plot draws, as floats; times in seconds since start_ms, NaN where a
    value is missing (no live quote on a side, a horizon no fill reaches). Every path is a
    step path: a value holds until the next time, and the last one until `end_s`. The
    account's paths (mid, inventory, γ, equity against holding, fees paid so far) share
    the times `t_s`: the start, every reference tick and every fill. A hedged run adds
    the combined book's paths (`hedge_metrics`) on its own times `net_t_s` (the Binance
    fills too): ADA held net of the hedges (DeltaDeFi's plus what Binance bought less
    sold), and its equity against holding; empty when the run did not hedge."""

    end_s: float
    t_s: Floats
    mid: Floats
    quote_t_s: Floats
    best_bid: Floats
    best_ask: Floats
    buy_t_s: Floats
    buy_price: Floats
    sell_t_s: Floats
    sell_price: Floats
    inventory_ada: Floats
    gamma: Floats
    pnl_vs_hold_usdm: Floats
    fees_usdm: Floats
    markout_horizons_s: tuple[int, ...]
    markout_bps: Floats
    net_t_s: Floats = ()
    net_inventory_ada: Floats = ()
    combined_pnl_vs_hold_usdm: Floats = ()

    @property
    def hedged(self) -> bool:
        return bool(self.net_t_s)


def report_series(conn: sqlite3.Connection, inputs: RunInputs) -> ReportSeries:
    """The time series of the report's plot for the run in `conn`: reference mid, our best
    bid/ask, fills, inventory and γ, equity against holding and fees paid, markout curve;
    the combined book's inventory and equity when the run hedged."""
    return _series(_Run.load(conn, inputs), inputs)


def _series(run: _Run, inputs: RunInputs) -> ReportSeries:
    def secs(t_ms: int) -> float:
        return (t_ms - inputs.start_ms) / 1000

    samples, gamma_max = run.samples, inputs.ladder.skew.gamma_max
    buys = [f.fill for f in run.fills if f.sign > 0]
    sells = [f.fill for f in run.fills if f.sign < 0]
    curve = [fq.markout_at(run.fills, run.reference, h)[0] for h in fq.CURVE_HORIZONS_S]
    combined = run.hedges.combined if run.hedges is not None else []
    return ReportSeries(
        end_s=secs(inputs.end_ms),
        t_s=tuple(secs(s.t_ms) for s in samples), mid=tuple(float(s.mid) for s in samples),
        quote_t_s=tuple(secs(q.t_ms) for q in run.quotes),
        best_bid=tuple(_float(q.best_bid) for q in run.quotes),
        best_ask=tuple(_float(q.best_ask) for q in run.quotes),
        buy_t_s=tuple(secs(f.ts_ms) for f in buys), buy_price=tuple(float(f.price) for f in buys),
        sell_t_s=tuple(secs(f.ts_ms) for f in sells),
        sell_price=tuple(float(f.price) for f in sells),
        inventory_ada=tuple(float(s.ada) for s in samples),
        gamma=tuple(acct.gamma(s, gamma_max) for s in samples),
        pnl_vs_hold_usdm=tuple(float(s.vs_hold_usdm) for s in samples),
        fees_usdm=tuple(float(s.fees_usdm) for s in samples),
        markout_horizons_s=fq.CURVE_HORIZONS_S,
        markout_bps=tuple(_NAN if m is None else m for m in curve),
        net_t_s=tuple(secs(s.t_ms) for s in combined),
        net_inventory_ada=tuple(float(s.ada) for s in combined),
        combined_pnl_vs_hold_usdm=tuple(float(s.vs_hold_usdm) for s in combined),
    )


def _float(value: Decimal | None) -> float:
    return _NAN if value is None else float(value)
