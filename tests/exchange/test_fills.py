"""Execution records → fill rows: the commission's asset is named, never guessed as ADA,
and a record without a commission is refused rather than counted as free."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ddmm.domain.market import ADAUSDM, MarketRules
from ddmm.domain.orders import ExchangeStatus, Order, OrderState
from ddmm.domain.quotes import Side
from ddmm.exchange.fills import fill_records
from ddmm.exchange.wire import ExchangeOrder, Execution

USDM_UNIT = "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad0014df105553444d"
ASSETS = MarketRules(quote_unit=USDM_UNIT, tick=Decimal("0.0001"), qty_step=Decimal("0.01"),
                     min_base_qty=Decimal(5), min_quote_notional=Decimal(5))


def _order(side: Side) -> Order:
    return Order(local_id="L1", side=side, price=Decimal("0.5"), qty=Decimal(100), layer=0,
                 state=OrderState.OPEN, created_ms=0, updated_ms=0, exchange_order_id="X1")


def _answer(side: Side, *executions: Execution) -> ExchangeOrder:
    return ExchangeOrder(order_id="X1", symbol="ADAUSDM", side=side, type="limit",
                         status=ExchangeStatus.OPEN, quantity=Decimal(100),
                         executions=executions)


def _execution(eid: str, *, commission: str | None = "0.01", unit: str = "") -> Execution:
    return Execution(execution_id=eid, order_id="X1", price=Decimal("0.5"),
                     quantity=Decimal(10), ts=datetime(2024, 8, 8, tzinfo=UTC),
                     commission=None if commission is None else Decimal(commission),
                     commission_unit=unit)


@pytest.mark.parametrize(("side", "unit", "asset"), [
    ("buy", "", "ADA"), ("sell", "", "USDM"),          # no unit: the asset received
    ("sell", "lovelace", "ADA"), ("buy", USDM_UNIT, "USDM"),
    ("buy", USDM_UNIT[:56] + "." + USDM_UNIT[56:], "USDM"),
])
def test_commission_asset_comes_from_its_unit_or_the_asset_received(
        side: Side, unit: str, asset: str) -> None:
    batch = fill_records(_order(side), _answer(side, _execution("E1", unit=unit)), ASSETS)
    assert [r.fee_asset for r in batch.records] == [asset]
    assert batch.refused == ()


def test_a_record_without_commission_is_refused_not_counted_as_free() -> None:
    batch = fill_records(_order("sell"), _answer(
        "sell", _execution("E1"), _execution("E2", commission=None)), ASSETS)
    assert [r.trade_id for r in batch.records] == ["E1"]
    assert [(r.execution_id, r.reason) for r in batch.refused] == [
        ("E2", "no commission in the execution record")]


def test_a_commission_in_a_third_asset_is_refused() -> None:
    batch = fill_records(_order("buy"), _answer("buy", _execution("E1", unit="beef00")),
                         ADAUSDM)
    assert batch.records == ()
    assert "neither market asset" in batch.refused[0].reason
