"""`ddmm top`'s picture, pure (SPEC §17): a view value in, a rich renderable out.

Two views. `Up` is the running bot's `GET /api/state` document plus the limiter's use
measured from `/metrics`; `Down` is what `ddmm status` reads from the database when the
ops endpoint does not answer, under a red banner saying so. No I/O and no clock here:
the time of the picture comes in as `now_ms`, so a test renders to text and reads it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ddmm.ops.top_rate import RateUse

FILL_ROWS = 10
EMPTY_SIDE: tuple[Text | str, ...] = ("", "", "", "", "")
SHORT_STATES = {"partially_filled": "partial", "submitting": "submit", "cancelling": "cancel"}
STATE_STYLES = {"open": "green", "partially_filled": "cyan", "cancelling": "yellow",
                "unknown": "red", "failed": "red", "rejected": "red"}
ACTOR_STYLES = {"running": "green", "stopped": "dim", "restarting": "yellow", "failed": "red"}
GUARD_KEYS = (("paused", "guard_paused"), ("toxic stop", "toxicity_paused"),
              ("breaker", "breaker_pulled"))
HEDGE_KEYS = (("net position", "net_position_ada"), ("hedged", "hedged_position_ada"),
              ("unhedged", "hedge_unhedged_ada"), ("in flight", "hedge_in_flight_ada"),
              ("pending", "hedge_pending"), ("done", "hedges_done"),
              ("failing", "hedge_failing"), ("last error", "hedge_last_error"))
PNL_KEYS = (("today PnL", "today_pnl_usdm"), ("realized", "today_realized_pnl_usdm"),
            ("fees", "today_fees_usdm"), ("volume", "today_volume_usdm"),
            ("fills today", "today_fills"), ("bought", "today_bought_ada"),
            ("sold", "today_sold_ada"))


@attrs.frozen(kw_only=True)
class Up:
    """The bot answered: its state document, and the limiter's use when measured."""

    state: Mapping[str, Any]
    rate: RateUse | None = None


@attrs.frozen(kw_only=True)
class Down:
    """The bot did not answer (`reason`); the database's report, or why it has none."""

    reason: str
    database: str
    report: Mapping[str, Any] | None = None
    error: str | None = None


def render(view: Up | Down, *, url: str, now_ms: int) -> RenderableType:
    """The whole screen for `view`, as of `now_ms` (wall clock, ms)."""
    match view:
        case Up(state=state, rate=rate):
            return _render_up(state, rate, url=url, now_ms=now_ms)
        case Down():
            return _render_down(view, url=url, now_ms=now_ms)


def _render_up(state: Mapping[str, Any], rate: RateUse | None, *, url: str,
               now_ms: int) -> RenderableType:
    status: Mapping[str, Any] = state.get("status") or {}
    age_s = (now_ms - int(state.get("ts_ms", now_ms))) / 1000
    banner = Text.assemble(("● running ", "bold green"), (f"{url}  ", "dim"),
                           (f"state {_clock(state.get('ts_ms', now_ms))} UTC", ""),
                           (f" ({age_s:.1f} s old)", "yellow" if age_s > 5 else "dim"))
    top = [("feed", _feed_rows(status)), ("risk", _risk_rows(status)),
           ("inventory & PnL (today, USDM)", _inventory_rows(status, state)), _rate_rows(rate)]
    if any(key in status for _, key in HEDGE_KEYS):
        top.append(("hedging", _hedge_rows(status)))
    middle = [_ladder_panel(state), _fills_panel(state.get("fills") or [])]
    return Group(banner, _panel_row(top), _row(middle, ratios=(2, 1)), _actors_panel(status))


def _render_down(view: Down, *, url: str, now_ms: int) -> RenderableType:
    banner = Text(f" not running — last state from the database {view.database} ",
                  style="bold white on red")
    detail = Text.assemble((f"{url}: {view.reason}", "red"),
                           (f"  · retrying each refresh · {_clock(now_ms)} UTC", "dim"))
    report = view.report
    if report is None:
        return Group(banner, detail, Text(view.error or "no database", style="bold red"))
    rows = [("position & PnL (database)", _db_position_rows(report)),
            ("orders (database)", _db_order_rows(report)),
            ("risk (database)", _db_risk_rows(report))]
    if "hedging" in report:
        rows.append(("hedging (database)", [(key.replace("_", " "), _plain(value))
                                            for key, value in report["hedging"].items()]))
    return Group(banner, detail, _panel_row(rows),
                 _db_open_orders(report.get("open_orders") or []))


def _row(panels: Sequence[RenderableType], ratios: Sequence[int] = ()) -> Table:
    grid = Table.grid(expand=True, padding=(0, 0))
    for index in range(len(panels)):
        grid.add_column(ratio=ratios[index] if index < len(ratios) else 1)
    grid.add_row(*panels)
    return grid


Rows = list[tuple[str, Text | str]]


def _panel_row(panels: Sequence[tuple[str, Rows]]) -> Table:
    """Label/value panels side by side, all as tall as the tallest."""
    height = max(len(rows) for _, rows in panels) + 2
    return _row([_pairs_panel(title, rows, height=height) for title, rows in panels])


def _pairs_panel(title: str, rows: Rows, *, height: int | None = None) -> Panel:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, value)
    return Panel(table, title=title, title_align="left", box=box.ROUNDED, height=height)


def _feed_rows(status: Mapping[str, Any]) -> Rows:
    stale = bool(status.get("feed_stale"))
    return [
        ("ticks/s", _plain(status.get("ticks_per_s"))),
        ("age", f"{_plain(status.get('feed_age_s'))} s"),
        ("stale", Text("STALE", style="bold red") if stale else Text("no", style="green")),
        ("reconnects", _plain(status.get("feed_reconnects"))),
        ("bid / ask", f"{_plain(status.get('bid'))} / {_plain(status.get('ask'))}"),
    ]


def _risk_rows(status: Mapping[str, Any]) -> Rows:
    risk = str(status.get("risk", "–"))
    halts = list(status.get("halts") or [])
    rows: Rows = [
        ("risk", Text(risk, style="green" if risk == "normal" else "bold yellow")),
        ("halted", Text("YES", style="bold red") if status.get("risk_halted")
         else Text("no", style="green")),
        ("halts", Text(", ".join(halts), style="bold red") if halts else Text("none")),
        ("refused", _plain(status.get("places_refused_by_risk"))),
    ]
    for label, key in GUARD_KEYS:
        sides = status.get(key)
        if isinstance(sides, Mapping) and any(sides.values()):
            paused = ", ".join(side for side, on in sides.items() if on)
            rows.append((label, Text(paused, style="yellow")))
    extra = status.get("guard_extra_bps")
    if isinstance(extra, Mapping):
        rows.append(("+bps b/s", f"{extra.get('buy')} / {extra.get('sell')}"))
    return rows


def _inventory_rows(status: Mapping[str, Any], state: Mapping[str, Any]) -> Rows:
    ladder = state.get("ladder") or {}
    rows: Rows = [
        ("ADA", _plain(status.get("ada"))), ("USDM", _plain(status.get("usdm"))),
        ("position", f"{_plain(status.get('session_position_ada'))} ADA (session)"),
        ("γ", _plain(ladder.get("gamma"))),
    ]
    for label, key in PNL_KEYS[:3]:
        rows.append((label, _signed(status.get(key))))
    holds = [(key, value) for key, value in status.items() if "vs_hold" in key]
    rows.extend((key.replace("_", " "), _signed(value)) for key, value in holds)
    rows.append(("volume", f"{_plain(status.get('today_volume_usdm'))} USDM, "
                           f"{_plain(status.get('today_fills'))} fills"))
    return rows


def _rate_rows(rate: RateUse | None) -> tuple[str, Rows]:
    if rate is None:
        return "rate budget (/metrics)", [("limiter", "measuring…")]
    share = rate.sent_per_s / rate.budget_per_s if rate.budget_per_s > 0 else 0.0
    style = "red" if share > 0.9 else "yellow" if share > 0.6 else "green"
    wait = "–" if rate.mean_wait_ms is None else f"{rate.mean_wait_ms:.0f} ms"
    return f"rate budget (/metrics, last {rate.window_s:.1f} s)", [
        ("sent", f"{rate.sent_per_s:.1f}/s of {rate.budget_per_s:g}/s"),
        ("use", Text(f"{share:.0%}", style=style)),
        ("mean wait", wait),
        ("429 backoffs", Text(str(rate.backoffs), style="red" if rate.backoffs else "")),
    ]


def _hedge_rows(status: Mapping[str, Any]) -> Rows:
    rows: Rows = []
    for label, key in HEDGE_KEYS:
        if key in status:  # a failing hedger, its last error: red
            bad = key in ("hedge_failing", "hedge_last_error") and status[key]
            rows.append((label, Text(_plain(status[key]), style="red" if bad else "")))
    return rows


def _ladder_panel(state: Mapping[str, Any]) -> Panel:
    ladder = state.get("ladder") or {}
    orders = list(state.get("orders") or [])
    bids = _side_rows(ladder.get("bids") or [], [o for o in orders if o.get("side") == "buy"])
    asks = _side_rows(ladder.get("asks") or [], [o for o in orders if o.get("side") == "sell"])
    book = _book_cells(state.get("book"))
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), expand=True, show_edge=False)
    for name in ("L", "state", "qty", "live", "want"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Binance", justify="center", style="bold", no_wrap=True)
    for name in ("want", "live", "qty", "state", "L"):
        table.add_column(name, justify="left" if name == "state" else "right", no_wrap=True)
    for index in range(max(len(bids), len(asks), len(book))):
        bid = bids[index] if index < len(bids) else EMPTY_SIDE
        ask = asks[index] if index < len(asks) else EMPTY_SIDE
        centre = book[index] if index < len(book) else ""
        table.add_row(*bid, centre, *reversed(ask))
    hold = ladder.get("hold_reason")
    counts = _state_counts(orders)
    title = (f"our bids | Binance | our asks · γ {_plain(ladder.get('gamma'))}"
             f" · hold: {hold or 'no'}")
    return Panel(table, title=title, title_align="left", subtitle=f"orders: {counts}",
                 subtitle_align="left", box=box.ROUNDED)


def _side_rows(levels: Iterable[Mapping[str, Any]], orders: Iterable[Mapping[str, Any]]
               ) -> list[tuple[Text | str, ...]]:
    """A row per layer and live order: layer, state, qty, live price, wanted price. A layer
    with a replacement in flight has several orders; its target shows on the first."""
    targets = {level["layer"]: level for level in levels}
    by_layer: dict[int, list[Mapping[str, Any]]] = {}
    for entry in orders:
        by_layer.setdefault(entry["layer"], []).append(entry)
    rows: list[tuple[Text | str, ...]] = []
    for layer in sorted(set(targets) | set(by_layer)):
        target = targets.get(layer)
        live: list[Mapping[str, Any] | None] = [*by_layer.get(layer, [])] or [None]
        for index, order in enumerate(live):
            want = str(target["price"]) if target is not None and index == 0 else ""
            if order is None:
                rows.append((str(layer), Text("none", style="dim"), "", "", want))
                continue
            state = str(order.get("state"))
            qty = order["qty"] if order.get("filled") in (None, "0") else \
                f"{order['filled']}/{order['qty']}"
            live_style = "" if not want or want == order["price"] else "yellow"
            rows.append((str(layer) if index == 0 else "",
                         Text(SHORT_STATES.get(state, state), style=STATE_STYLES.get(state, "")),
                         str(qty), Text(str(order["price"]), style=live_style), want))
    return rows


def _book_cells(book: Mapping[str, Any] | None) -> list[str]:
    if not book:
        return ["no book"]
    cells = [f"bid {book['bid']}", f"× {_short_qty(book['bid_qty'])}",
             f"ask {book['ask']}", f"× {_short_qty(book['ask_qty'])}", f"mid {book['mid']}"]
    bid, ask, mid = (_decimal(book.get(key)) for key in ("bid", "ask", "mid"))
    if bid is not None and ask is not None and mid:
        cells.append(f"spr {(ask - bid) / mid * 10_000:.1f} bps")
    return cells


def _state_counts(orders: Iterable[Mapping[str, Any]]) -> str:
    counts = Counter(str(order.get("state")) for order in orders)
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"


def _fills_panel(fills: Sequence[Mapping[str, Any]]) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), expand=True, show_edge=False)
    for name in ("time", "side", "price", "qty", "mo 1s", "mo 10s"):
        table.add_column(name, justify="left" if name in ("time", "side") else "right",
                         no_wrap=True)
    for fill in fills[:FILL_ROWS]:
        markouts = fill.get("markout_bps") or {}
        side = str(fill.get("side"))
        table.add_row(_clock(fill.get("ts_ms", 0)),
                      Text(side, style="green" if side == "buy" else "magenta"),
                      str(fill.get("price")), str(fill.get("qty")),
                      _signed(markouts.get("1s"), places=2),
                      _signed(markouts.get("10s"), places=2))
    body = table if fills else Text("no fills in the last hour", style="dim")
    return Panel(body, title="recent fills (markout bps, + = our way)", title_align="left",
                 box=box.ROUNDED)


def _actors_panel(status: Mapping[str, Any]) -> Panel:
    actors = flatten_tree(status.get("supervision_tree"))
    if not actors:
        actors = [(path, "?", int(n)) for path, n in (status.get("actor_restarts") or {}).items()]
    cells = [Text.assemble(("● ", ACTOR_STYLES.get(state, "yellow")), (path, ""),
                           ("" if state == "running" else f" {state}", "yellow"),
                           (f" ↻{restarts}", "bold red" if restarts else "dim"))
             for path, state, restarts in actors]
    columns = 4
    grid = Table.grid(expand=True, padding=(0, 2))
    for _ in range(columns):
        grid.add_column(no_wrap=True)
    for start in range(0, len(cells), columns):
        chunk = cells[start:start + columns]
        grid.add_row(*chunk, *[""] * (columns - len(chunk)))
    total = sum(restarts for _, _, restarts in actors)
    return Panel(grid, title=f"actors (● running, ↻ restarts: {total} in all)",
                 title_align="left", box=box.ROUNDED)


def flatten_tree(tree: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, str, int]]:
    """(path, status, restarts) for every child of the supervision tree, depth first, in
    the tree's order; a supervisor's own entry precedes its children's."""
    if not tree:
        return []
    found: list[tuple[str, str, int]] = []
    for name, child in (tree.get("children") or {}).items():
        path = f"{prefix}{name}"
        found.append((path, str(child.get("status", "?")), int(child.get("restarts", 0))))
        found.extend(flatten_tree(child.get("supervisor"), prefix=f"{path}/"))
    return found


def _db_position_rows(report: Mapping[str, Any]) -> Rows:
    rows: Rows = [
        ("session position", f"{_plain(report.get('session_position_ada'))} ADA"),
        ("all-time position", f"{_plain(report.get('all_time_position_ada'))} ADA"),
    ]
    for label, key in PNL_KEYS[1:]:
        rows.append((label, _signed(report.get(key)) if "pnl" in key else
                     _plain(report.get(key))))
    for asset, balance in (report.get("balances") or {}).items():
        rows.append((asset, f"{balance.get('free')} free, {balance.get('locked')} locked"))
    markouts = report.get("today_markout_bps") or {}
    for horizon, sides in markouts.items():
        rows.append((f"markout {horizon}s", " / ".join(f"{s} {_plain(v)}"
                                                      for s, v in sides.items())))
    return rows


def _db_order_rows(report: Mapping[str, Any]) -> Rows:
    by_state = report.get("orders_by_state") or {}
    rows: Rows = [(state, str(n)) for state, n in sorted(by_state.items())]
    rows.append(("open", str(len(report.get("open_orders") or []))))
    rows.append(("session fills", _plain(report.get("session_fills"))))
    return rows


def _db_risk_rows(report: Mapping[str, Any]) -> Rows:
    risk = report.get("last_risk_event")
    if not risk:
        return [("last risk event", "none")]
    return [("last risk event", Text(str(risk.get("kind")), style="yellow")),
            ("at", f"{_clock(risk.get('ts_ms', 0))} UTC"), ("why", str(risk.get("reason")))]


def _db_open_orders(orders: Sequence[Mapping[str, Any]]) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
    for name in ("side", "price", "qty", "filled", "exchange id"):
        table.add_column(name, no_wrap=True)
    for order in orders:
        table.add_row(*(str(order.get(key)) for key in
                        ("side", "price", "qty", "filled", "exchange_order_id")))
    return Panel(table, title=f"open orders in the database ({len(orders)})", title_align="left",
                 box=box.ROUNDED)


def _plain(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _signed(value: object, *, places: int | None = None) -> Text:
    """Green when positive, red when negative; `places` rounds for display only."""
    number = _decimal(value)
    if number is None:
        return Text(_plain(value), style="dim")
    shown = str(value) if places is None else f"{number:.{places}f}"
    return Text(shown, style="green" if number > 0 else "red" if number < 0 else "")


def _decimal(value: object) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _short_qty(value: object) -> str:
    number = _decimal(value)
    return _plain(value) if number is None else f"{number:,.2f}"


def _clock(ts_ms: object) -> str:
    """HH:MM:SS UTC of a wall-clock timestamp in ms."""
    try:
        return datetime.fromtimestamp(int(str(ts_ms)) / 1000, UTC).strftime("%H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return "--:--:--"
