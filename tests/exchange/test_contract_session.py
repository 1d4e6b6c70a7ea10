"""The scripted session of issue 5: build → sign → submit → partial fill → cancel → balances.

Run with `-s` to see the JSON our client and the simulator exchanged (transaction hex
shortened). The partial fill comes from the simulator's seeded random taker: σ = 0 makes
its size exactly the median, and the test's clock moves in 10 ms steps until it arrives,
so the session is the same on every run.
"""

from __future__ import annotations

from decimal import Decimal

import trio
from contract_support import SYMBOL, USDM_UNIT, ContractSim, start_contract_sim, transcript

from ddmm.config.schema import SimConfig
from ddmm.domain.money import floor_to
from ddmm.domain.orders import ExchangeStatus
from ddmm.exchange.client import DeltaDeFiClient
from ddmm.exchange.wire import OrderRequest

D = Decimal
TAKER_SIZE = D("37.5")
"""Exactly representable as a float, so the lognormal draw with σ = 0 is exactly it."""
SESSION = SimConfig(rate_limit_per_s=1000, taker_rate_per_s=5.0, taker_size_median=TAKER_SIZE,
                    taker_size_sigma=0.0)
PRICE, QTY = D("0.4989"), D(100)
MICRO = D("0.000001")
STEP_MS, MAX_STEPS = 10, 6_000


def wait_for_first_taker(sim: ContractSim, order_id: str) -> None:
    """Move the clock in small steps until a taker has hit the order (one arrival)."""
    for _ in range(MAX_STEPS):
        sim.advance_ms(STEP_MS)
        if sim.handle.engine.order(sim.handle.account_id, order_id).executed_base_qty:
            return
    raise AssertionError("no taker arrived")


async def balances(client: DeltaDeFiClient) -> dict[str, tuple[Decimal, Decimal]]:
    return {b.asset: (b.free, b.locked) for b in await client.balances()}


async def test_scripted_session_build_sign_submit_fill_cancel(nursery: trio.Nursery) -> None:
    sim = await start_contract_sim(nursery, SESSION)
    try:
        client = sim.client
        sim.reference("0.4986", "0.4987")  # our ask sits 5 bps above the mid: takers come
        start = {b.asset: b.free for b in await client.balances()}

        built = await client.build(OrderRequest.limit(SYMBOL, "sell", PRICE, QTY))
        signed = sim.signer.sign_tx_hex(built.tx_hex)
        assert signed != built.tx_hex and signed.startswith(built.tx_hex[:8])
        submitted = await client.submit_signed(built.order_id, signed)
        assert (submitted.status, submitted.resting) == (ExchangeStatus.OPEN, QTY)

        wait_for_first_taker(sim, built.order_id)
        partial = await client.order(built.order_id)
        assert (partial.status, partial.filled, partial.resting) == (
            ExchangeStatus.OPEN, TAKER_SIZE, QTY - TAKER_SIZE
        )
        [fill] = partial.executions
        received = TAKER_SIZE * PRICE
        commission = floor_to(received * D("0.001"), MICRO)  # 0.1 % of the USDM received
        assert commission < received * D("0.001")  # the floor really cut a digit here
        assert (fill.role, fill.price, fill.quantity, fill.quote_quantity) == (
            "maker", PRICE, TAKER_SIZE, received
        )
        assert (fill.commission, fill.commission_unit) == (commission, USDM_UNIT)
        assert fill.counter_party_order_id not in (None, built.order_id)
        assert await balances(client) == {
            "ADA": (start["ADA"] - QTY, QTY - TAKER_SIZE),
            "USDM": (start["USDM"] + received - commission, D(0)),
        }

        await client.cancel(built.order_id)
        final = await client.order(built.order_id)
        assert (final.status, final.filled, final.commission) == (
            ExchangeStatus.CANCELLED, TAKER_SIZE, commission
        )
        assert await balances(client) == {
            "ADA": (start["ADA"] - TAKER_SIZE, D(0)),
            "USDM": (start["USDM"] + received - commission, D(0)),
        }
        assert await client.open_orders(SYMBOL) == ()
    finally:
        print("\n--- scripted session: client ⇄ simulator (loopback) ---")
        print(transcript(sim.transport.exchanges))
        await sim.aclose()
