"""Shadow actor under virtual time: the OMS's decisions against an imagined book, recorded,
with the same caps and holds, and nothing sent anywhere (it has no channel to send on)."""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import trio
import trio.testing
from order_path_fakes import FakeDb, clock_ms
from test_oms_actor import LIMITS, NORMAL, fill_record, target

from ddmm.actors.shadow import Shadow
from ddmm.oms.inbox import OmsStatus, RiskUpdate, StopQuoting
from ddmm.oms.risk import RiskMode, RiskState
from ddmm.quoting.params import RequotePolicy
from ddmm.runtime.latest import LatestValue


def shadow(db: FakeDb, **limits: object) -> Shadow:
    return Shadow(db=db, policy=RequotePolicy(), limits=attrs.evolve(LIMITS, **limits),  # type: ignore[arg-type]
                  clock_ms=clock_ms, status=LatestValue[OmsStatus]())


async def test_decisions_are_recorded_and_the_imagined_book_moves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    db = FakeDb()
    s = shadow(db)
    await s.handle(RiskUpdate(state=NORMAL))
    await s.handle(target(bids=("0.4990", "0.4980"), asks=("0.5010",)))
    first = [(d.kind, d.side, d.price) for d in db.shadow]
    await s.handle(target(bids=("0.4985", "0.4980"), asks=("0.5010",), update_id=2))
    second = [(d.kind, d.side, d.price, d.reason) for d in db.shadow[len(first):]]
    assert first == [("ladder", None, None), ("place", "buy", Decimal("0.4990")),
                     ("place", "sell", Decimal("0.5010")), ("place", "buy", Decimal("0.4980"))]
    assert json.loads(db.shadow[0].detail)["bids"][0] == ["0.4990", "100"]
    # Only the moved level: its cancel, then its place (the others keep their place).
    assert second == [("ladder", None, None, None),
                      ("cancel", "buy", Decimal("0.4990"), "replaced"),
                      ("place", "buy", Decimal("0.4985"), None)]
    status = s.status.peek()
    assert status is not None and status.report()["shadow_places"] == 4
    assert (status.open_bids, status.open_asks) == (2, 1)


async def test_caps_and_holds_apply_as_in_live_mode(autojump_clock: trio.testing.MockClock) -> None:
    db = FakeDb()
    db.fill_rows["T1"] = fill_record("T1", "buy", "120")  # long 120 of max 150: buys add 30
    s = shadow(db, max_position=Decimal(150))
    await s.handle(RiskUpdate(state=NORMAL))
    await s.handle(target(bids=("0.4990",), asks=("0.5010",)))
    assert [(d.kind, d.side) for d in db.shadow if d.kind != "ladder"] == [("place", "sell")]
    await s.handle(RiskUpdate(state=RiskState(mode=RiskMode.HALTED, allowed_sides=frozenset(),
                                              reasons=("daily loss",))))
    await s.handle(StopQuoting(reason="shutdown"))
    assert [(d.kind, d.reason) for d in db.shadow if d.kind == "cancel"] == [("cancel", "hold")]
    status = s.status.peek()
    assert status is not None and status.quiet
