"""Contract: every `DeltaDeFiClient` endpoint and error mapping against the simulator.

Real loopback sockets on both sides (hypercorn serving the simulator, httpx's socket
transport in our client); the simulator's wall clock is the test's. Each test checks what
our client makes of a real answer, so a drift between the two shows up here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import attrs
import pytest
import trio
from contract_support import QUIET, SYMBOL, USDM_UNIT, ContractSim, start_contract_sim

from ddmm.domain.money import floor_to
from ddmm.domain.orders import ExchangeStatus
from ddmm.errors import (
    AuthenticationError,
    BuildExpired,
    ConfigError,
    DuplicateSubmission,
    ExchangeTimeout,
    InsufficientBalance,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    RateLimited,
    ServerError,
    SigningError,
    TradingLocked,
    TransportError,
)
from ddmm.exchange.signing import OperationKeySigner
from ddmm.exchange.wire import OrderRequest
from ddmm.sim.faults import AuthFailure, FaultConfig

D = Decimal
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def sim(nursery: trio.Nursery) -> AsyncIterator[ContractSim]:
    started = await start_contract_sim(nursery)
    yield started
    await started.aclose()


def buy(price: str, qty: str, *, post_only: bool = False) -> OrderRequest:
    return OrderRequest.limit(SYMBOL, "buy", D(price), D(qty), post_only=post_only)


async def balances(sim: ContractSim) -> dict[str, tuple[Decimal, Decimal]]:
    return {b.asset: (b.free, b.locked) for b in await sim.client.balances()}


# -- reference data and account --------------------------------------------------------------


async def test_market_rules_give_the_adausdm_grid(sim: ContractSim) -> None:
    rules = await sim.client.market_rules(SYMBOL)
    assert (rules.tick, rules.qty_step, rules.min_base_qty) == (D("0.0001"), D("0.01"), D(5))
    assert (rules.base_unit, rules.quote_unit) == ("lovelace", USDM_UNIT)
    assert rules.min_qty(D("0.5")) == D(10)  # 5 USD notional beats 5 ADA at 0.5
    with pytest.raises(ConfigError, match="BTCUSDM"):
        await sim.client.market_rules("BTCUSDM")


async def test_operation_key_decrypts_to_the_key_the_exchange_requires(sim: ContractSim) -> None:
    key = await sim.client.operation_key()
    assert key.operation_key_hash == sim.handle.operation_key_hash
    assert key.encrypted_operation_key not in repr(key)
    signer = OperationKeySigner.from_encrypted(
        key.encrypted_operation_key, sim.handle.trading_password
    )
    signer.ensure_matches(key.operation_key_hash)
    with pytest.raises(SigningError):
        signer.ensure_matches("00" * 28)
    with pytest.raises(SigningError):
        OperationKeySigner.from_encrypted(key.encrypted_operation_key, "wrong-password")


async def test_balances_start_at_the_paper_amounts_and_lock_at_build(sim: ContractSim) -> None:
    assert await balances(sim) == {"ADA": (D(20000), D(0)), "USDM": (D(9000), D(0))}
    units = {b.asset: b.unit for b in await sim.client.balances()}
    assert units == {"ADA": "lovelace", "USDM": USDM_UNIT}
    await sim.client.build(buy("0.4312", "100"))
    assert (await balances(sim))["USDM"] == (D("8956.88"), D("43.12"))


async def test_market_price_is_the_reference_mid_then_the_last_trade(sim: ContractSim) -> None:
    assert await sim.client.market_price(SYMBOL) == 0
    sim.reference("0.4985", "0.4988")
    assert await sim.client.market_price(SYMBOL) == D("0.4986")  # mid 0.49865 on the tick
    await sim.place("sell", "0.4980")  # through the reference bid: the arbitrageur takes it
    sim.advance_ms(200)
    assert await sim.client.market_price(SYMBOL) == D("0.498")


# -- orders --------------------------------------------------------------------------------


async def test_build_sign_submit_opens_the_order(sim: ContractSim) -> None:
    built = await sim.client.build(buy("0.4312", "100"))
    order = await sim.client.submit_signed(built.order_id, sim.signer.sign_tx_hex(built.tx_hex))
    assert (order.order_id, order.status, order.side) == (built.order_id, ExchangeStatus.OPEN, "buy")
    assert (order.price, order.quantity, order.resting, order.filled) == (
        D("0.4312"), D(100), D(100), D(0)
    )
    assert (order.commission_rate_bp, order.commission_unit) == (10, "lovelace")


async def test_unsigned_transaction_is_refused(sim: ContractSim) -> None:
    built = await sim.client.build(buy("0.4312", "100"))
    with pytest.raises(InvalidOrder) as info:
        await sim.client.submit_signed(built.order_id, built.tx_hex)
    assert info.value.code == 4000


async def test_place_persists_first_and_a_resubmission_is_a_duplicate(sim: ContractSim) -> None:
    persisted: list[tuple[str, str]] = []

    async def on_built(order_id: str, signed: str) -> None:
        persisted.append((order_id, signed))

    order = await sim.client.place(buy("0.4312", "100"), on_built=on_built)
    assert [order_id for order_id, _ in persisted] == [order.order_id]
    with pytest.raises(DuplicateSubmission) as info:
        await sim.client.submit_signed(*persisted[0])
    assert info.value.code == 4302
    assert (await sim.client.order(order.order_id)).status is ExchangeStatus.OPEN


async def test_submit_after_the_build_window_is_build_expired(sim: ContractSim) -> None:
    built = await sim.client.build(buy("0.4312", "100"))
    sim.clock.ms += 60_001  # EngineOptions.build_ttl_ms defaults to 60 s
    with pytest.raises(BuildExpired) as info:
        await sim.client.submit_signed(built.order_id, sim.signer.sign_tx_hex(built.tx_hex))
    assert info.value.code == 4300
    assert (await balances(sim))["USDM"] == (D(9000), D(0))
    assert (await sim.client.order(built.order_id)).status is ExchangeStatus.FAILED


@pytest.mark.parametrize(
    ("request_", "error", "code"),
    [
        (buy("0.5", "100000"), InsufficientBalance, 4050),
        (buy("0.5", "1"), InvalidOrder, 4100),
        (buy("0.4600", "10", post_only=True), InvalidOrder, 4104),
        (OrderRequest.limit("XYZ", "buy", D("0.5"), D(10)), InvalidOrder, 4106),
    ],
)
async def test_build_refusals_map_to_typed_errors(
    sim: ContractSim, request_: OrderRequest, error: type[Exception], code: int
) -> None:
    await sim.place("sell", "0.4500")  # what the post-only buy would cross
    with pytest.raises(error) as info:
        await sim.client.build(request_)
    assert getattr(info.value, "code", None) == code


async def test_post_only_buy_far_through_the_market_is_refused_not_filled(
    nursery: trio.Nursery,
) -> None:
    """The reported case: market at 0.45, a post-only buy at 0.99 must not rest or fill."""
    config = attrs.evolve(QUIET, outside_depth=D(1000))
    sim = await start_contract_sim(nursery, config)
    try:
        sim.reference("0.4500", "0.4501")
        with pytest.raises(InvalidOrder) as info:
            await sim.client.build(buy("0.99", "10", post_only=True))
        assert info.value.code == 4104
        sim.advance_ms(1000)
        assert await sim.client.open_orders(SYMBOL) == ()
        assert await sim.client.trades(SYMBOL) == ()
        assert (await balances(sim))["USDM"][1] == 0  # nothing left locked
    finally:
        await sim.aclose()


async def test_cancel_one_then_cancel_all_then_nothing_left(sim: ContractSim) -> None:
    first = await sim.place("sell", "0.5000")
    second = await sim.place("sell", "0.5001")
    await sim.client.cancel(first.order_id)
    assert (await sim.client.order(first.order_id)).status is ExchangeStatus.CANCELLED
    with pytest.raises(OrderNotOpen):
        await sim.client.cancel(first.order_id)
    with pytest.raises(OrderNotFound):
        await sim.client.cancel(UNKNOWN_ID)
    assert await sim.client.cancel_all(SYMBOL) == (second.order_id,)
    assert await sim.client.cancel_all(SYMBOL) == ()  # HTTP 400 code 4200 means "none open"
    assert await sim.client.open_orders(SYMBOL) == ()
    assert (await balances(sim))["ADA"] == (D(20000), D(0))


async def test_unknown_order_by_id_is_order_not_found(sim: ContractSim) -> None:
    with pytest.raises(OrderNotFound) as info:
        await sim.client.order(UNKNOWN_ID)
    assert (info.value.code, info.value.status) == (4200, 404)


async def test_open_orders_follow_every_page(nursery: trio.Nursery) -> None:
    sim = await start_contract_sim(nursery, page_size=2)
    placed = {(await sim.place("sell", f"0.50{n:02d}")).order_id for n in range(5)}
    sim.transport.exchanges.clear()
    found = await sim.client.open_orders(SYMBOL)
    assert len(found) == 5 and {o.order_id for o in found} == placed
    assert all(o.status is ExchangeStatus.OPEN for o in found)
    assert sim.transport.paths() == [
        f"GET /accounts/open-orders?symbol=ADAUSDM&page={page}&limit=2" for page in (1, 2, 3)
    ]
    await sim.aclose()


async def test_fills_show_in_order_trade_orders_and_trades(nursery: trio.Nursery) -> None:
    sim = await start_contract_sim(nursery, page_size=2)
    prices = ("0.4500", "0.4501", "0.4502")
    ids = {(await sim.place("sell", price)).order_id: D(price) for price in prices}
    resting = await sim.place("sell", "0.4600")
    sim.reference("0.4503", "0.4504")  # crosses the three lower asks, not the fourth
    sim.advance_ms(200)  # SimConfig.arb_delay_ms
    for order_id, price in ids.items():
        order = await sim.client.order(order_id)
        assert (order.status, order.filled, order.avg_fill_price) == (
            ExchangeStatus.CLOSED, D(10), price
        )
        [fill] = order.executions
        assert (fill.order_id, fill.role, fill.price, fill.quantity) == (
            order_id, "maker", price, D(10)
        )
        # 0.1 % of the quote received, floored to 6 dp, in USDM.
        assert fill.commission == floor_to(D(10) * price * D("0.001"), D("0.000001"))
        assert fill.commission_unit == USDM_UNIT
    assert {o.order_id for o in await sim.client.trade_orders(SYMBOL)} == set(ids)
    trades = await sim.client.trades(SYMBOL)
    assert len(trades) == 3 and {t.order_id for t in trades} == set(ids)
    assert len({t.execution_id for t in trades}) == 3
    assert len(await sim.client.trades(SYMBOL, max_pages=1)) == 2
    assert [o.order_id for o in await sim.client.open_orders(SYMBOL)] == [resting.order_id]
    await sim.aclose()


# -- faults --------------------------------------------------------------------------------


async def test_over_the_rate_budget_is_rate_limited(sim: ContractSim) -> None:
    await sim.faults(rate_limit_per_s=2)
    assert await sim.client.cancel_all(SYMBOL) == ()
    assert await sim.client.cancel_all(SYMBOL) == ()
    with pytest.raises(RateLimited) as info:
        await sim.client.cancel_all(SYMBOL)
    assert (info.value.code, info.value.status) == (4290, 429)
    assert await sim.client.balances()  # account routes are not counted


@pytest.mark.parametrize("status", [400, 503])
async def test_trading_lock_is_trading_locked_whatever_the_status(
    sim: ContractSim, status: int
) -> None:
    await sim.faults(trading_locked=True, trading_lock_status=status)
    with pytest.raises(TradingLocked) as info:
        await sim.client.build(buy("0.4312", "100"))
    assert (info.value.code, info.value.status) == (5002, status)
    assert await sim.client.open_orders(SYMBOL) == ()  # queries still answer
    await sim.faults(trading_locked=False)
    assert (await sim.place("buy", "0.4312")).status is ExchangeStatus.OPEN


async def test_json_5000_with_http_400_is_a_server_error(sim: ContractSim) -> None:
    await sim.faults(error_burst={"count": 1, "kind": "json_5000"})
    with pytest.raises(ServerError) as info:
        await sim.client.balances()
    assert (info.value.code, info.value.status) == (5000, 400)
    assert await sim.client.balances()


async def test_plain_text_503_is_a_transport_error(sim: ContractSim) -> None:
    await sim.faults(error_burst={"count": 1, "kind": "text_503"})
    with pytest.raises(TransportError) as info:
        await sim.client.market_price(SYMBOL)
    assert type(info.value) is TransportError and info.value.status == 503
    assert "upstream connect error" in str(info.value)
    assert await sim.client.market_price(SYMBOL) == 0


async def test_answer_slower_than_the_client_timeout_is_exchange_timeout(
    sim: ContractSim,
) -> None:
    await sim.faults(latency_ms=1000)
    async with sim.new_client(timeout_s=0.2) as impatient:
        started = trio.current_time()
        with pytest.raises(ExchangeTimeout, match="outcome unknown"):
            await impatient.balances()
        assert trio.current_time() - started < 0.9
    await sim.faults(latency_ms=0)


@pytest.mark.parametrize(("mode", "status", "code"), [("403", 403, None), ("401", 401, 4010)])
async def test_bad_api_key_is_an_authentication_error_without_the_key(
    nursery: trio.Nursery, mode: AuthFailure, status: int, code: int | None
) -> None:
    sim = await start_contract_sim(nursery, faults=FaultConfig(auth_failure=mode))
    bad_key = "0f" * 16
    async with sim.new_client(bad_key) as intruder:
        with pytest.raises(AuthenticationError) as info:
            await intruder.balances()
    assert (info.value.status, info.value.code) == (status, code)
    assert bad_key not in str(info.value) and sim.handle.api_key not in str(info.value)
    assert await sim.client.balances()  # the right key still works
    await sim.aclose()
