"""The hedger's tables on real sqlite (SPEC §16): which fills become hedge items, an item
covered by one intent at most, settling and voiding only once, Binance fills once by
trade id, and their totals."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import attrs
import pytest

from ddmm.config.schema import PersistenceConfig
from ddmm.domain.records import DAY_MS, FillRecord, HedgeIntentRecord, utc_day_start_ms
from ddmm.errors import PersistenceConflict
from ddmm.hedging.plan import Unhedged
from ddmm.persistence import open_persistence
from ddmm.persistence.status import status_report

T0 = 1_750_000_000_000


def fill(n: int, side: str = "buy", qty: str = "100", quarantined: bool = False) -> FillRecord:
    return FillRecord(trade_id=f"T{n}", exchange_order_id="X1", side=side,  # type: ignore[arg-type]
                      qty=D(qty), price=D("0.5"), fee=D(0), fee_asset="USDM", ts_ms=T0 + n,
                      quarantined=quarantined, reason="test" if quarantined else None)


def intent(cid: str, side: str = "sell", qty: str = "100") -> HedgeIntentRecord:
    return HedgeIntentRecord(client_order_id=cid, symbol="ADAUSDT", side=side,  # type: ignore[arg-type]
                             qty=D(qty), limit_price=D("0.4995"), created_ms=T0, updated_ms=T0)


def binance_fill(trade_id: int, qty: str, side: str = "sell", price: str = "0.5",
                 fee: str = "0.05") -> FillRecord:
    return FillRecord(trade_id=str(trade_id), exchange_order_id="77", side=side,  # type: ignore[arg-type]
                      qty=D(qty), price=D(price), fee=D(fee), fee_asset="USDT",
                      ts_ms=T0 + 1000 + trade_id)


async def test_only_counted_fills_after_the_first_call_become_items(tmp_path: Path) -> None:
    async with open_persistence(PersistenceConfig(path=tmp_path / "ddmm.db")) as db:
        await db.record_fill(fill(1))
        assert await db.learn_fills_to_hedge(T0) == 0  # hedging starts after T1
        await db.record_fill(fill(2, "sell", "40"))
        await db.record_fill(fill(3, quarantined=True))
        assert await db.learn_fills_to_hedge(T0) == 1
        assert await db.learn_fills_to_hedge(T0) == 0
        assert await db.unhedged_items() == [Unhedged(item_id="T2", side="sell", qty=D(40))]


async def test_an_item_is_covered_by_one_intent_at_most(tmp_path: Path) -> None:
    async with open_persistence(PersistenceConfig(path=tmp_path / "ddmm.db")) as db:
        await db.learn_fills_to_hedge(T0)
        for n in (1, 2):
            await db.record_fill(fill(n))
        await db.learn_fills_to_hedge(T0)
        await db.open_hedge_intent(intent("h-a-0"), ["T1"])
        with pytest.raises(PersistenceConflict, match="covered already"):
            await db.open_hedge_intent(intent("h-b-0", qty="200"), ["T1", "T2"])
        # the refused intent left nothing behind: T2 is free, h-b-0 does not exist
        assert [i.item_id for i in await db.unhedged_items()] == ["T2"]
        assert [i.client_order_id for i in await db.hedge_intents()] == ["h-a-0"]
        assert await db.hedge_attempts("h-a-") == 1 and await db.hedge_attempts("h-b-") == 0


async def test_settling_records_fills_once_and_queues_the_shortfall(tmp_path: Path) -> None:
    async with open_persistence(PersistenceConfig(path=tmp_path / "ddmm.db")) as db:
        await db.learn_fills_to_hedge(T0)
        await db.record_fill(fill(1, qty="100"))
        await db.learn_fills_to_hedge(T0)
        await db.open_hedge_intent(intent("h-a-0"), ["T1"])
        assert await db.hedge_items_in_flight() == [Unhedged(item_id="T1", side="buy",
                                                             qty=D(100))]
        rest = Unhedged(item_id="h-a-0:rest", side="buy", qty=D(30))
        fills = [binance_fill(5, "50"), binance_fill(6, "20")]
        assert await db.settle_hedge_intent("h-a-0", executed_qty=D(70), exchange_order_id=77,
                                            fills=fills, reason="EXPIRED",
                                            now_ms=T0 + 2000) == rest
        with pytest.raises(PersistenceConflict, match="not pending"):
            await db.settle_hedge_intent("h-a-0", executed_qty=D(70), exchange_order_id=77,
                                         fills=fills, reason=None, now_ms=T0 + 3000)
        assert not await db.void_hedge_intent("h-a-0", reason="late", now_ms=T0 + 3000)
        assert await db.hedge_items_in_flight() == []
        assert await db.unhedged_items() == [rest]
        [done] = await db.hedge_intents("done")
        assert (done.executed_qty, done.exchange_order_id) == (D(70), 77)
        assert [f.trade_id for f in await db.hedge_fills()] == ["5", "6"]
        totals = await db.hedge_day_totals(utc_day_start_ms(T0))
        assert (totals.sold, totals.sold_usdm, totals.fees_usdm) == (D(70), D(35), D("0.10"))
        assert await db.hedged_position() == D(-70)


async def test_day_totals_move_once_per_new_binance_fill_in_its_own_day(
        tmp_path: Path) -> None:
    async with open_persistence(PersistenceConfig(path=tmp_path / "ddmm.db")) as db:
        await db.learn_fills_to_hedge(T0)
        for n in (1, 2):
            await db.record_fill(fill(n, qty="50"))
        await db.learn_fills_to_hedge(T0)
        await db.open_hedge_intent(intent("h-a-0", qty="50"), ["T1"])
        await db.settle_hedge_intent("h-a-0", executed_qty=D(50), exchange_order_id=77,
                                     fills=[binance_fill(5, "50")], reason="FILLED",
                                     now_ms=T0 + 2000)
        await db.open_hedge_intent(intent("h-b-0", qty="50"), ["T2"])
        next_day = attrs.evolve(binance_fill(6, "30"), ts_ms=T0 + DAY_MS)
        # trade 5 again (a replayed answer): stored once, counted once
        await db.settle_hedge_intent("h-b-0", executed_qty=D(30), exchange_order_id=78,
                                     fills=[binance_fill(5, "50"), next_day],
                                     reason="EXPIRED", now_ms=T0 + DAY_MS)
        today = utc_day_start_ms(T0)
        assert (await db.hedge_day_totals(today)).sold == D(50)
        assert (await db.hedge_day_totals(today + DAY_MS)).sold == D(30)
        assert await db.hedged_position() == D(-80)
        assert (await db.hedge_day_totals(today - DAY_MS)).fills == 0


async def test_voiding_frees_the_items_for_the_next_attempt(tmp_path: Path) -> None:
    async with open_persistence(PersistenceConfig(path=tmp_path / "ddmm.db")) as db:
        await db.learn_fills_to_hedge(T0)
        await db.record_fill(fill(1))
        await db.learn_fills_to_hedge(T0)
        await db.open_hedge_intent(intent("h-a-0"), ["T1"])
        assert await db.unhedged_items() == []
        assert await db.void_hedge_intent("h-a-0", reason="-2010 insufficient balance",
                                          now_ms=T0 + 1)
        assert [i.item_id for i in await db.unhedged_items()] == ["T1"]
        await db.open_hedge_intent(intent("h-a-1"), ["T1"])
        assert [(i.client_order_id, i.state) for i in await db.hedge_intents()] == [
            ("h-a-0", "void"), ("h-a-1", "pending")]
        assert await db.hedge_attempts("h-a-") == 2


async def test_status_shows_hedging_only_once_it_has_run(tmp_path: Path) -> None:
    path = tmp_path / "ddmm.db"
    async with open_persistence(PersistenceConfig(path=path)) as db:
        await db.open_session(T0)
        await db.record_fill(fill(1, qty="100"))
    assert "hedging" not in status_report(path, now_ms=T0 + 5000)
    async with open_persistence(PersistenceConfig(path=path)) as db:
        await db.learn_fills_to_hedge(T0)
        await db.record_fill(fill(2, qty="50"))
        await db.record_fill(fill(3, qty="10"))
        await db.learn_fills_to_hedge(T0)
        await db.open_hedge_intent(intent("h-a-0", qty="50"), ["T2"])
        await db.settle_hedge_intent("h-a-0", executed_qty=D(50), exchange_order_id=77,
                                     fills=[binance_fill(5, "50")], reason="FILLED",
                                     now_ms=T0 + 2000)
    hedging = status_report(path, now_ms=T0 + 5000)["hedging"]
    assert hedging == {"unhedged_ada": "10", "in_flight_ada": "0",
                       "hedges_by_state": {"done": 1}, "all_time_binance_fills": 1,
                       "session_hedged_position_ada": "-50",
                       "session_net_position_ada": "110"}
