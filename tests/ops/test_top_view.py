"""`ddmm top`'s picture, rendered to text without a terminal or a network (SPEC §17):
the figures an operator reads, the ladder beside the book, and the red banner with the
database's figures when the bot is down. The limiter's use from `/metrics`."""

from __future__ import annotations

import copy
import re
from typing import Any

from rich.console import Console

from ddmm.ops.top_rate import LimiterSample, RateUse, limiter_sample, rate_use
from ddmm.ops.top_view import Down, Up, flatten_tree, render

T0 = 1_790_000_000_000
URL = "http://127.0.0.1:8787"

STATE: dict[str, Any] = {
    "ts_ms": T0,
    "status": {
        "ticks_per_s": 66.8, "feed_stale": False, "feed_age_s": 0.108, "feed_reconnects": 0,
        "bid": "0.4498", "ask": "0.4499", "open_bids": 2, "open_asks": 1, "orders_pending": 1,
        "risk": "normal", "risk_halted": False, "places_refused_by_risk": 0,
        "ada": "20000.00", "usdm": "9000.000000", "session_position_ada": "-150",
        "today_pnl_usdm": "12.34", "today_realized_pnl_usdm": "3.210000",
        "today_fees_usdm": "0.05", "today_volume_usdm": "67.38", "today_fills": 3,
        "halts": [], "guard_extra_bps": {"buy": "0", "sell": "1.5"},
        "guard_paused": {"buy": False, "sell": True},
        "actor_restarts": {"market_data": 0, "market_data/feed": 2},
        "supervision_tree": {"name": "root", "strategy": "one_for_one", "children": {
            "market_data": {"status": "running", "restarts": 0, "supervisor": {
                "name": "market_data", "strategy": "one_for_one", "children": {
                    "feed": {"status": "restarting", "restarts": 2},
                    "quoter": {"status": "running", "restarts": 0}}}}}},
    },
    "book": {"bid": "0.4498", "bid_qty": "15.97420000", "ask": "0.4499",
             "ask_qty": "7.23170000", "mid": "0.44985"},
    "ladder": {"bids": [{"layer": 0, "price": "0.4492", "qty": "202.40"},
                        {"layer": 1, "price": "0.4488", "qty": "405.17"}],
               "asks": [{"layer": 0, "price": "0.4505", "qty": "201.76"}],
               "gamma": "0.000167", "hold_reason": None},
    "orders": [
        {"side": "buy", "layer": 0, "price": "0.4491", "qty": "202.40", "filled": "0",
         "state": "cancelling"},
        {"side": "buy", "layer": 1, "price": "0.4488", "qty": "405.17", "filled": "100",
         "state": "partially_filled"},
        {"side": "sell", "layer": 0, "price": "0.4505", "qty": "201.76", "filled": "0",
         "state": "open"},
    ],
    "fills": [{"ts_ms": T0 - 2_000, "side": "sell", "price": "0.4517", "qty": "150",
               "markout_bps": {"1s": "2.5", "10s": "-1.25"}}],
}


def text_of(renderable: object, width: int = 160) -> str:
    console = Console(record=True, width=width, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def shows(text: str, label: str, value: str) -> bool:
    """`label` then `value` on one line, however wide the label column is."""
    return re.search(re.escape(label) + r"\s+" + re.escape(value), text) is not None


def test_the_running_picture_shows_feed_risk_inventory_pnl_and_budget() -> None:
    rate = RateUse(window_s=10, sent_per_s=1.2, budget_per_s=5, mean_wait_ms=3.4, backoffs=1)
    text = text_of(render(Up(state=STATE, rate=rate), url=URL, now_ms=T0 + 300))
    assert "● running" in text and URL in text and "(0.3 s old)" in text
    assert shows(text, "ticks/s", "66.8") and shows(text, "age", "0.108 s")
    assert shows(text, "stale", "no") and shows(text, "risk", "normal")
    assert shows(text, "paused", "sell") and shows(text, "+bps b/s", "0 / 1.5")
    assert shows(text, "position", "-150 ADA (session)") and shows(text, "γ", "0.000167")
    assert shows(text, "today PnL", "12.34") and shows(text, "realized", "3.210000")
    assert shows(text, "sent", "1.2/s of 5/s") and shows(text, "use", "24%")
    assert shows(text, "mean wait", "3 ms") and shows(text, "429 backoffs", "1")


def test_the_ladder_sits_beside_the_book_with_each_orders_state() -> None:
    text = text_of(render(Up(state=STATE), url=URL, now_ms=T0))
    lines = text.splitlines()
    top_row = next(line for line in lines if "bid 0.4498" in line)
    # our best bid (live 0.4491 being cancelled, wanted 0.4492), the book, our best ask
    assert top_row.index("cancel") < top_row.index("0.4491") < top_row.index("0.4492") \
        < top_row.index("bid 0.4498") < top_row.index("0.4505") < top_row.index("open")
    assert any("partial" in line and "100/405.17" in line for line in lines)
    assert "ask 0.4499" in text and "mid 0.44985" in text and "spr 2.2 bps" in text
    assert "orders: 1 cancelling, 1 open, 1 partially_filled" in text
    assert "hold: no" in text


def test_recent_fills_show_their_markouts_and_actors_their_restarts() -> None:
    text = text_of(render(Up(state=STATE), url=URL, now_ms=T0))
    fill_row = next(line for line in text.splitlines() if "0.4517" in line)
    assert "sell" in fill_row and "150" in fill_row and "2.5" in fill_row and "-1.25" in fill_row
    assert "market_data/feed restarting ↻2" in text and "market_data/quoter ↻0" in text
    assert "restarts: 2 in all" in text
    assert "measuring" in text  # no limiter figures yet


def test_halts_staleness_and_hedging_are_shown_when_present() -> None:
    state = copy.deepcopy(STATE)
    state["status"].update(feed_stale=True, risk="halted", risk_halted=True,
                           halts=["daily_loss"], net_position_ada="-20",
                           hedged_position_ada="130", hedge_unhedged_ada="-20",
                           hedge_in_flight_ada="0", hedge_pending=0, hedges_done=4,
                           hedge_failing=False, hedge_last_error=None)
    text = text_of(render(Up(state=state), url=URL, now_ms=T0))
    assert shows(text, "stale", "STALE") and shows(text, "halted", "YES")
    assert shows(text, "halts", "daily_loss")
    assert "hedging" in text and shows(text, "net position", "-20") and shows(text, "done", "4")


def test_a_bot_without_book_ladder_or_tree_still_renders() -> None:
    state = {"ts_ms": T0, "status": {"actor_restarts": {"ops": 1}}, "book": None,
             "ladder": None, "orders": [], "fills": []}
    text = text_of(render(Up(state=state), url=URL, now_ms=T0))
    assert "no book" in text and "no fills in the last hour" in text and "ops ? ↻1" in text


def test_the_down_picture_has_the_red_banner_and_the_databases_figures() -> None:
    report = {"database": "/srv/ddmm/ddmm.db", "orders_by_state": {"cancelled": 4, "open": 1},
              "open_orders": [{"side": "buy", "price": "0.4480", "qty": "100", "filled": "0",
                               "exchange_order_id": "X9"}],
              "session_position_ada": "75", "session_fills": 2, "all_time_position_ada": "75",
              "today_realized_pnl_usdm": "-0.42", "today_fills": 2,
              "balances": {"ADA": {"free": "1000", "locked": "0"}},
              "last_risk_event": {"ts_ms": T0, "kind": "halt", "reason": "daily loss"},
              "today_markout_bps": {"1": {"buy": "1.5", "sell": None}}}
    view = Down(reason="connection refused", database="/srv/ddmm/ddmm.db", report=report)
    text = text_of(render(view, url=URL, now_ms=T0))
    assert "not running — last state from the database /srv/ddmm/ddmm.db" in text
    assert f"{URL}: connection refused" in text and "retrying" in text
    assert shows(text, "session position", "75 ADA") and shows(text, "realized", "-0.42")
    assert shows(text, "last risk event", "halt") and shows(text, "why", "daily loss")
    assert shows(text, "ADA", "1000 free") and shows(text, "markout 1s", "buy 1.5 / sell –")
    assert "open orders in the database (1)" in text and "X9" in text


def test_the_down_picture_without_a_database_says_why() -> None:
    view = Down(reason="connection refused", database="/nowhere/ddmm.db",
                error="no database at /nowhere/ddmm.db")
    text = text_of(render(view, url=URL, now_ms=T0))
    assert "not running" in text and "no database at /nowhere/ddmm.db" in text


def test_the_tree_flattens_to_paths_in_order() -> None:
    assert flatten_tree(STATE["status"]["supervision_tree"]) == [
        ("market_data", "running", 0), ("market_data/feed", "restarting", 2),
        ("market_data/quoter", "running", 0)]
    assert flatten_tree(None) == []


METRICS = """\
# HELP ddmm_limiter_wait_seconds Order command queued to sent by the limiter.
ddmm_limiter_wait_seconds_bucket{le="+Inf"} 44.0
ddmm_limiter_wait_seconds_count 44.0
ddmm_limiter_wait_seconds_sum 34.5
ddmm_rate_limit_backoffs_total 2.0
"""


def test_rate_use_is_sends_per_second_against_the_refill_and_the_mean_wait() -> None:
    first = limiter_sample(METRICS, t_s=100.0)
    assert first == LimiterSample(t_s=100.0, sent=44, waited_s=34.5, backoffs=2)
    last = LimiterSample(t_s=110.0, sent=56, waited_s=34.56, backoffs=3)
    use = rate_use(first, last, budget_per_s=5.0)
    assert use is not None
    assert (use.window_s, use.sent_per_s, use.backoffs) == (10.0, 1.2, 3)
    assert use.mean_wait_ms is not None and abs(use.mean_wait_ms - 5.0) < 1e-6


def test_rate_use_is_unknown_without_figures_time_or_after_a_restart() -> None:
    assert limiter_sample("ddmm_ticks_per_s 3.0\n", t_s=0) is None
    sample = LimiterSample(t_s=5, sent=10, waited_s=1, backoffs=0)
    assert rate_use(sample, sample, budget_per_s=5) is None
    restarted = LimiterSample(t_s=9, sent=2, waited_s=0, backoffs=0)
    assert rate_use(sample, restarted, budget_per_s=5) is None
    idle = rate_use(sample, LimiterSample(t_s=9, sent=10, waited_s=1, backoffs=0),
                    budget_per_s=5)
    assert idle is not None and idle.sent_per_s == 0 and idle.mean_wait_ms is None
