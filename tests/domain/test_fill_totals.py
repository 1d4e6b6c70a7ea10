"""Fill totals: the running sums a day's PnL is computed from, and their sum over venues."""

from __future__ import annotations

from decimal import Decimal

from ddmm.domain.records import FillRecord, FillTotals


def _fill(trade_id: str, side: str, qty: str, price: str, fee: str, fee_asset: str) -> FillRecord:
    return FillRecord(trade_id=trade_id, exchange_order_id="X", local_id="L", side=side,  # type: ignore[arg-type]
                      qty=Decimal(qty), price=Decimal(price), fee=Decimal(fee),
                      fee_asset=fee_asset, ts_ms=1_750_000_000_000)


def test_plus_sums_every_field_as_if_the_fills_were_counted_together() -> None:
    dex = FillTotals.of([_fill("D1", "buy", "1000", "0.50", "0.5", "USDM"),
                         _fill("D2", "sell", "200", "0.51", "1", "ADA")])
    cex = FillTotals.of([_fill("B1", "sell", "1000", "0.502", "0.502", "USDT")])
    both = dex.plus(cex)
    assert both == FillTotals(fills=3, bought=Decimal(1000), sold=Decimal(1200),
                              bought_usdm=Decimal("500.00"), sold_usdm=Decimal("604.000"),
                              fees_usdm=Decimal("1.002"), fees_ada=Decimal(1),
                              fees_ada_usdm=Decimal("0.51"))
    assert both.net == Decimal(-200)
    assert both == FillTotals.of([_fill("D1", "buy", "1000", "0.50", "0.5", "USDM"),
                                  _fill("D2", "sell", "200", "0.51", "1", "ADA"),
                                  _fill("B1", "sell", "1000", "0.502", "0.502", "USDT")])


def test_plus_nothing_is_the_same_totals() -> None:
    dex = FillTotals.of([_fill("D1", "buy", "10", "0.5", "0", "USDM")])
    assert dex.plus(FillTotals()) == dex == FillTotals().plus(dex)
