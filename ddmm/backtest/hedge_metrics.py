"""The `hedging` block of a backtest's metrics (SPEC §13, §16): the Binance hedges, their
PnL, and DeltaDeFi with Binance as one book — only when the run's database holds Binance
fills within the window; without them the metrics have no such block.

The Binance account starts at 0 ADA and 0 USDT (only changes matter against holding; USDT
counts 1:1 as USDM); a fee comes out of the asset received, an ADA fee valued at the mid at
its fill. The combined book holds DeltaDeFi's balances plus Binance's changes
(`hedge_book`). `M` is the reference mid, `final_mid` the one at end_ms.

- hedges: the Binance orders that executed (distinct client order ids among the fills);
  binance_fills; volume_ada = Σ q; volume_usdt = Σ q·p; fees_usdt = USDT fees + ADA
  fees·M at their fill.
- slippage_bps: volume-weighted s·(p − touch)/touch in bps, s = +1 for a buy against the
  reference ask, −1 for a sell against the bid, the touch at the instant the hedge was
  decided (its intent written); positive is worse than the touch; fees not included
  (`hedge_book.slippage_bps`).
- pnl_vs_hold_usdm, each the book's ending balances at final_mid minus its starting ones
  at final_mid, as `pnl_vs_hold_usdm` in `metrics`:
  deltadefi: that figure itself;
  binance: Σ sells q·p − Σ buys q·p − USDT fees + (ADA bought − ADA sold − ADA
  fees)·final_mid — the hedges' cash flows and their ADA at the final mid, fees included;
  `binance_components` splits it as `account_path.PnlComponents` does (cash_flow +
  inventory_revaluation − fees);
  combined: deltadefi + binance, the starting ADA, USDM and USDT of both venues valued at
  final_mid against the ending ones.
- pnl_std_usdm, pnl_std_detrended_usdm and max_drawdown_usdm, for deltadefi and
  combined: the standard deviation of the book's equity against holding, (ada − ada₀)·M +
  (cash − cash₀) with ADA and cash summed over the book's venues, sampled every second
  (`hedge_book.pnl_std_usdm`); the same around its least-squares line
  (`hedge_book.pnl_std_detrended_usdm`: the hedges' steady cost is a trend, not a swing);
  and the largest fall of that equity from a running peak (`account_path.max_drawdown`).
- position_ada: deltadefi, ADA held on DeltaDeFi minus ada₀; net, that plus the ADA the
  hedges bought less sold less their ADA fees: the combined book's exposure. Each with
  end, min, max and max_abs over the path.
- unhedged_ada_end: the hedger's items not covered by a settled hedge at the end (waiting
  for a batch, or in flight), signed as DeltaDeFi ADA bought: what it still had to sell.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ddmm.backtest import account_path as acct
from ddmm.backtest import hedge_book as hb
from ddmm.backtest.figures import money, num
from ddmm.backtest.timeline import ReferencePath
from ddmm.hedging.plan import net_ada
from ddmm.persistence import hedge_queries

Samples = Sequence[acct.AccountSample]
Fills = Sequence[acct.PricedFill]


@attrs.frozen(kw_only=True)
class Hedges:
    """The Binance side of a hedged run, read once: its fills, its own account and the
    combined book's (step paths, as `account_path.account_samples`), when each hedge was
    decided (client order id → its intent's creation), and what was left unhedged."""

    fills: list[acct.PricedFill]
    account: list[acct.AccountSample]
    combined_fills: list[acct.PricedFill]
    combined: list[acct.AccountSample]
    decided_ms: dict[str, int]
    unhedged_ada: Decimal

    @classmethod
    def load(cls, conn: sqlite3.Connection, reference: ReferencePath, start: acct.Balances,
             fills: Fills, *, end_ms: int, base_asset: str) -> Hedges | None:
        """The hedges of the run from `start` (DeltaDeFi's balances at start_ms, `fills`
        its counted fills) to `end_ms`; None when Binance executed nothing in the window."""
        hedges = acct.price_fills([f for f in hedge_queries.hedge_fills(conn, start.t_ms)
                                   if f.ts_ms <= end_ms], reference, base_asset)
        if not hedges:
            return None
        zero = acct.Balances(t_ms=start.t_ms, ada=acct.ZERO, usdm=acct.ZERO)
        both = hb.merged(fills, hedges)
        left = hedge_queries.unhedged_items(conn) + hedge_queries.items_in_flight(conn)
        return cls(fills=hedges, account=acct.account_samples(zero, hedges, reference, end_ms),
                   combined_fills=both,
                   combined=acct.account_samples(start, both, reference, end_ms),
                   decided_ms={i.client_order_id: i.created_ms
                               for i in hedge_queries.intents(conn)},
                   unhedged_ada=net_ada(left))


def hedging_metrics(hedges: Hedges, samples: Samples, deltadefi: Mapping[str, Any],
                    reference: ReferencePath, end_ms: int) -> dict[str, Any]:
    """The `hedging` block (module docstring) from the hedges, DeltaDeFi's own account
    path `samples` (from start_ms) and DeltaDeFi's figures as the metrics already hold
    them (`deltadefi`: its `pnl_vs_hold_usdm`, `pnl_std_usdm`, `pnl_std_detrended_usdm`
    and `max_drawdown_usdm`, repeated here beside the combined book's, not recomputed)."""
    start_ms, final_mid = samples[0].t_ms, reference.mid_at(end_ms)
    first_mid = reference.mid_at(start_ms)
    binance = _pnl(hedges.account, hedges.fills, first_mid, final_mid)
    combined = _pnl(hedges.combined, hedges.combined_fills, first_mid, final_mid)
    path = hedges.combined

    def both(figure: str, of_combined: Any) -> dict[str, Any]:
        return {"deltadefi": deltadefi[figure], "combined": of_combined}

    return {
        "hedges": len({h.fill.local_id for h in hedges.fills}),
        "binance_fills": len(hedges.fills),
        "volume_ada": money(sum((h.fill.qty for h in hedges.fills), acct.ZERO)),
        "volume_usdt": money(sum((h.notional for h in hedges.fills), acct.ZERO)),
        "fees_usdt": money(binance.fees_usdm),
        "slippage_bps": num(hb.slippage_bps(hedges.fills, hedges.decided_ms, reference)),
        "pnl_vs_hold_usdm": {"deltadefi": deltadefi["pnl_vs_hold_usdm"],
                             "binance": money(binance.pnl_vs_hold_usdm),
                             "combined": money(combined.pnl_vs_hold_usdm)},
        "binance_components": {"cash_flow_usdm": money(binance.cash_flow_usdm),
                               "inventory_revaluation_usdm":
                                   money(binance.inventory_revaluation_usdm),
                               "fees_usdm": money(binance.fees_usdm)},
        "pnl_std_usdm": both("pnl_std_usdm", num(hb.pnl_std_usdm(path, start_ms, end_ms))),
        "pnl_std_detrended_usdm": both(
            "pnl_std_detrended_usdm", num(hb.pnl_std_detrended_usdm(path, start_ms, end_ms))),
        "max_drawdown_usdm": both(
            "max_drawdown_usdm", money(acct.max_drawdown(s.vs_hold_usdm for s in path))),
        "position_ada": {"deltadefi": _position(samples, samples[0].ada),
                         "net": _position(path, samples[0].ada)},
        "unhedged_ada_end": money(hedges.unhedged_ada),
    }


def _pnl(path: Samples, fills: Fills, first_mid: Decimal, final_mid: Decimal
         ) -> acct.PnlComponents:
    start, end = path[0], path[-1]
    return acct.pnl_components(acct.Balances(t_ms=start.t_ms, ada=start.ada, usdm=start.usdm),
                               acct.Balances(t_ms=end.t_ms, ada=end.ada, usdm=end.usdm),
                               fills, first_mid=first_mid, final_mid=final_mid)


def _position(path: Samples, start_ada: Decimal) -> dict[str, str]:
    span = hb.position_range(path, start_ada)
    return {"end": money(span.end), "min": money(span.min), "max": money(span.max),
            "max_abs": money(span.max_abs)}
