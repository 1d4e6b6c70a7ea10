"""`report.png` of a backtest (SPEC §13), drawn with matplotlib's Agg canvas.

Panels sharing the time axis (seconds since the run's start): the Binance mid with our
best bid and ask and our fills (▲ buys, ▼ sells); inventory in ADA with γ on a second
axis; equity against holding the starting balances, and the fees paid so far. Below them,
the markout curve: volume-weighted markout in bps against the horizon. A hedged run adds,
beside DeltaDeFi's, the combined book's ADA (net of the Binance hedges) to the inventory
panel and its equity against holding to the PnL panel.

A `Figure` on its own Agg canvas, never pyplot: no global figure registry, no GUI
backend, no threads. The PNG carries no software or time stamp, so a run redrawn gives
the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ddmm.backtest.metrics import ReportSeries

FIGSIZE_IN = (12.0, 12.0)
DPI = 100


def write_report_png(path: Path, series: ReportSeries) -> None:
    """Draw `series` and write the PNG to `path`."""
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    price, inventory, pnl, markout = fig.subplots(
        4, 1, gridspec_kw={"height_ratios": [3, 2, 2, 2]})
    inventory.sharex(price)
    pnl.sharex(price)
    _price_panel(price, series)
    _inventory_panel(inventory, series)
    _pnl_panel(pnl, series)
    _markout_panel(markout, series)
    fig.savefig(path, format="png", metadata={"Software": None})


def _steps(ax: Axes, t_s: Sequence[float], values: Sequence[float], end_s: float,
           **style: Any) -> None:
    """A step path held from each time to the next, the last value until `end_s`."""
    if t_s:
        ax.step([*t_s, end_s], [*values, values[-1]], where="post", **style)


def _price_panel(ax: Axes, s: ReportSeries) -> None:
    _steps(ax, s.t_s, s.mid, s.end_s, color="0.4", linewidth=0.8, label="Binance mid")
    _steps(ax, s.quote_t_s, s.best_bid, s.end_s, color="tab:green", linewidth=0.8,
           label="our best bid")
    _steps(ax, s.quote_t_s, s.best_ask, s.end_s, color="tab:red", linewidth=0.8,
           label="our best ask")
    ax.scatter(s.buy_t_s, s.buy_price, marker="^", color="tab:green", s=24, label="buy fill")
    ax.scatter(s.sell_t_s, s.sell_price, marker="v", color="tab:red", s=24, label="sell fill")
    ax.set_ylabel("price (USDM)")
    ax.legend(loc="upper left", fontsize="small", ncols=5)
    ax.label_outer()


def _inventory_panel(ax: Axes, s: ReportSeries) -> None:
    _steps(ax, s.t_s, s.inventory_ada, s.end_s, color="tab:blue",
           label="ADA held on DeltaDeFi" if s.hedged else "ADA held")
    ax.set_ylabel("inventory (ADA)", color="tab:blue")
    if s.hedged:
        _steps(ax, s.net_t_s, s.net_inventory_ada, s.end_s, color="black", linewidth=1.0,
               label="net of Binance hedges")
        ax.legend(loc="upper left", fontsize="small")
    gamma = ax.twinx()
    _steps(gamma, s.t_s, s.gamma, s.end_s, color="tab:orange", linewidth=0.8)
    gamma.set_ylabel("γ", color="tab:orange")
    ax.label_outer()


def _pnl_panel(ax: Axes, s: ReportSeries) -> None:
    _steps(ax, s.t_s, s.pnl_vs_hold_usdm, s.end_s, color="tab:purple",
           label="PnL vs hold, DeltaDeFi" if s.hedged else "PnL vs hold")
    if s.hedged:
        _steps(ax, s.net_t_s, s.combined_pnl_vs_hold_usdm, s.end_s, color="black",
               linewidth=1.0, label="PnL vs hold, with the hedges")
    _steps(ax, s.t_s, s.fees_usdm, s.end_s, color="tab:brown", label="fees paid")
    ax.axhline(0, color="0.7", linewidth=0.6)
    ax.set_ylabel("USDM")
    ax.set_xlabel("time since start (s)")
    ax.legend(loc="upper left", fontsize="small")


def _markout_panel(ax: Axes, s: ReportSeries) -> None:
    ax.plot(s.markout_horizons_s, s.markout_bps, marker="o", color="tab:cyan")
    ax.axhline(0, color="0.7", linewidth=0.6)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("horizon after the fill (s)")
    ax.set_ylabel("markout (bps, VW)")
