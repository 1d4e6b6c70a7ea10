"""Halts rebuilt from persisted risk events: what a restart must find still holding."""

from __future__ import annotations

from decimal import Decimal

from ddmm.domain.records import RiskEventRecord
from ddmm.oms.latches import replay_latches

DAY_MS = 86_400_000


def event(ts_ms: int, kind: str, reason: str = "r", amount: str | None = None) -> RiskEventRecord:
    return RiskEventRecord(ts_ms=ts_ms, kind=kind, reason=reason,
                           amount=None if amount is None else Decimal(amount))


def test_nothing_holds_without_events_or_after_a_resume() -> None:
    assert replay_latches([]).halts == {}
    latches = replay_latches([event(1, "halt"), event(2, "daily_loss"), event(3, "ops_stop"),
                              event(4, "resume")])
    assert (latches.halts, latches.ops_stop, latches.pnl_baseline) == ({}, None, None)


def test_halts_after_the_last_resume_hold_with_their_day() -> None:
    latches = replay_latches([event(DAY_MS + 5, "resume", amount="-1200.5"),
                              event(DAY_MS + 7, "daily_loss", "daily loss 1300"),
                              event(DAY_MS + 8, "halt", "operator"),
                              event(DAY_MS + 9, "ops_stop", "ops"),
                              event(DAY_MS + 10, "ops_stop_cleared")])
    assert latches.halts == {"daily_loss": "daily loss 1300", "halt": "operator"}
    assert latches.halt_day_ms == DAY_MS
    assert latches.ops_stop is None
    assert latches.pnl_baseline == (DAY_MS, Decimal("-1200.5"))


def test_an_ops_stop_holds_until_cleared() -> None:
    assert replay_latches([event(1, "ops_stop", "stop requested")]).ops_stop == "stop requested"
