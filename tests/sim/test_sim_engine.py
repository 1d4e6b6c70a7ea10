"""The pure exchange engine: orders, locking, matching, fees, takers, arbitrage, codes."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import attrs
import pytest

from ddmm.config.schema import SimConfig
from ddmm.exchange.signing import OperationKeySigner
from ddmm.sim.accounts import Credentials
from ddmm.sim.engine import EngineOptions, SimExchange
from ddmm.sim.ledger_tx import TestAccountKeys, make_test_account
from ddmm.sim.model import BalanceChanged, OrderChanged, SimError, Status
from ddmm.sim.takers import Reference, intensity

D = Decimal
T0 = 1_790_000_000_000
USDM_UNIT = "c69b981db7a65e339a6d783755f85a2e03afa1cece9714c55fe4c9135553444d"
NO_TAKERS = SimConfig(taker_rate_per_s=0.0)


@pytest.fixture(scope="module")
def keys() -> tuple[TestAccountKeys, TestAccountKeys]:
    return make_test_account(bytes(range(16)), "pw-a"), make_test_account(
        bytes(range(1, 17)), "pw-b"
    )


@attrs.define
class Venue:
    engine: SimExchange
    signers: dict[str, OperationKeySigner]
    alice: str
    bob: str

    def place(
        self, account: str, side: str, price: str, qty: str, now: int = T0, **extra: Any
    ) -> str:
        body = {
            "symbol": "ADAUSDM",
            "side": side,
            "type": "limit",
            "base_quantity": qty,
            "price": price,
            **extra,
        }
        order_id, tx_hex = self.engine.build(account, body, now)
        self.engine.submit(account, order_id, self.signers[account].sign_tx_hex(tx_hex), now)
        return order_id

    def free(self, account: str, asset: str) -> Decimal:
        return next(r.free for r in self.engine.balances(account) if r.asset == asset)

    def locked(self, account: str, asset: str) -> Decimal:
        return next(r.locked for r in self.engine.balances(account) if r.asset == asset)


def make_venue(
    keys: tuple[TestAccountKeys, TestAccountKeys], config: SimConfig = NO_TAKERS, **options: Any
) -> Venue:
    engine = SimExchange(config, options=EngineOptions(**options))
    signers, ids = {}, []
    for n, k in enumerate(keys):
        creds = Credentials(
            api_key=f"key{n}",
            operation_key_hash=k.operation_key_hash,
            encrypted_operation_key=k.encrypted_operation_key,
        )
        account_id = engine.add_account(creds, {"ADA": D("10000"), "USDM": D("5000")})
        signers[account_id] = OperationKeySigner.from_xprv(k.xprv)
        ids.append(account_id)
    return Venue(engine, signers, ids[0], ids[1])


@pytest.fixture
def venue(keys: tuple[TestAccountKeys, TestAccountKeys]) -> Venue:
    return make_venue(keys)


def code_of(call: Any) -> tuple[int, int]:
    with pytest.raises(SimError) as info:
        call()
    return info.value.code, info.value.status


# -- locking -----------------------------------------------------------------------------


def test_build_locks_quote_for_a_buy_and_cancel_releases_it(venue: Venue) -> None:
    order_id = venue.place(venue.alice, "buy", "0.4312", "100")
    assert venue.locked(venue.alice, "usdm") == D("43.12")
    assert venue.free(venue.alice, "usdm") == D("4956.88")
    venue.engine.cancel(venue.alice, order_id, T0 + 1)
    assert venue.locked(venue.alice, "usdm") == 0
    assert venue.free(venue.alice, "usdm") == D("5000")
    assert venue.engine.order(venue.alice, order_id).status is Status.CANCELLED


def test_build_locks_base_for_a_sell_before_submit(venue: Venue) -> None:
    venue.engine.build(
        venue.alice,
        {
            "symbol": "ADAUSDM",
            "side": "sell",
            "type": "limit",
            "base_quantity": "250.5",
            "price": "0.5",
        },
        T0,
    )
    assert venue.locked(venue.alice, "ada") == D("250.5")
    assert venue.free(venue.alice, "ada") == D("9749.5")


def test_expired_build_fails_releases_funds_and_submit_answers_4300(venue: Venue) -> None:
    order_id, tx_hex = venue.engine.build(
        venue.alice,
        {
            "symbol": "ADAUSDM",
            "side": "sell",
            "type": "limit",
            "base_quantity": "10",
            "price": "0.5",
        },
        T0,
    )
    ttl = venue.engine.options.build_ttl_ms
    venue.engine.advance(T0 + ttl + 1)
    assert venue.locked(venue.alice, "ada") == 0
    signed = venue.signers[venue.alice].sign_tx_hex(tx_hex)
    assert code_of(lambda: venue.engine.submit(venue.alice, order_id, signed, T0 + ttl + 2)) == (
        4300,
        400,
    )
    assert venue.engine.order(venue.alice, order_id).status is Status.FAILED


def test_duplicate_submit_answers_4302(venue: Venue) -> None:
    order_id, tx_hex = venue.engine.build(
        venue.alice,
        {
            "symbol": "ADAUSDM",
            "side": "sell",
            "type": "limit",
            "base_quantity": "10",
            "price": "0.5",
        },
        T0,
    )
    signed = venue.signers[venue.alice].sign_tx_hex(tx_hex)
    assert venue.engine.submit(venue.alice, order_id, signed, T0).status is Status.OPEN
    assert code_of(lambda: venue.engine.submit(venue.alice, order_id, signed, T0 + 5))[0] == 4302


def test_signature_by_another_key_is_refused_with_4000(venue: Venue) -> None:
    order_id, tx_hex = venue.engine.build(
        venue.alice,
        {
            "symbol": "ADAUSDM",
            "side": "sell",
            "type": "limit",
            "base_quantity": "10",
            "price": "0.5",
        },
        T0,
    )
    forged = venue.signers[venue.bob].sign_tx_hex(tx_hex)
    assert code_of(lambda: venue.engine.submit(venue.alice, order_id, forged, T0))[0] == 4000
    assert code_of(lambda: venue.engine.submit(venue.alice, order_id, tx_hex, T0))[0] == 4000
    assert venue.engine.order(venue.alice, order_id).status is Status.BUILDING


# -- codes -------------------------------------------------------------------------------

BASE = {
    "symbol": "ADAUSDM",
    "side": "buy",
    "type": "limit",
    "base_quantity": "100",
    "price": "0.4312",
}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"side": None}, 4000),
        ({"side": "hold"}, 4000),
        ({"price": 0.4312}, 4000),
        ({"quote_quantity": "40"}, 4000),
        ({"base_quantity": None}, 4000),
        ({"symbol": "BTCUSDM"}, 4106),
        ({"price": "0.43125"}, 4102),
        ({"price": "0"}, 4101),
        ({"base_quantity": "100.001"}, 4103),
        ({"base_quantity": "0"}, 4107),
        ({"base_quantity": "4.99"}, 4100),
        ({"type": "market", "post_only": True, "price": None}, 4105),
        ({"type": "market", "price": None, "max_slippage_basis_point": "10001"}, 4108),
        ({"type": "market", "price": None}, 4109),
        ({"base_quantity": "100000"}, 4050),
    ],
)
def test_build_refusals_carry_the_documented_code(
    venue: Venue, change: dict[str, Any], code: int
) -> None:
    body = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    assert code_of(lambda: venue.engine.build(venue.alice, body, T0))[0] == code
    assert venue.locked(venue.alice, "usdm") == 0


def test_insufficient_balance_is_reported_with_http_500_like_the_exchange(venue: Venue) -> None:
    assert code_of(
        lambda: venue.engine.build(venue.alice, {**BASE, "base_quantity": "100000"}, T0)
    ) == (4050, 500)


def test_max_open_orders_answers_4110(keys: tuple[TestAccountKeys, TestAccountKeys]) -> None:
    venue = make_venue(keys, max_open_orders=2)
    venue.place(venue.alice, "buy", "0.40", "10")
    venue.engine.build(venue.alice, {**BASE, "price": "0.41", "base_quantity": "10"}, T0)
    assert (
        code_of(lambda: venue.engine.build(venue.alice, {**BASE, "price": "0.42"}, T0))[0] == 4110
    )


def test_post_only_that_would_match_answers_4104(venue: Venue) -> None:
    venue.place(venue.bob, "sell", "0.4300", "50")
    body = {**BASE, "price": "0.4300", "post_only": True}
    assert code_of(lambda: venue.engine.build(venue.alice, body, T0))[0] == 4104


def test_cancel_codes(venue: Venue) -> None:
    assert code_of(lambda: venue.engine.cancel(venue.alice, "no-such-id", T0)) == (4200, 404)
    order_id = venue.place(venue.alice, "sell", "0.5", "10")
    assert code_of(lambda: venue.engine.cancel(venue.bob, order_id, T0)) == (4200, 404)
    venue.engine.cancel(venue.alice, order_id, T0)
    assert code_of(lambda: venue.engine.cancel(venue.alice, order_id, T0)) == (4201, 400)
    assert code_of(lambda: venue.engine.cancel_all(venue.alice, "ADAUSDM", T0)) == (4200, 400)


def test_cancel_all_cancels_only_the_callers_open_orders(venue: Venue) -> None:
    mine = {venue.place(venue.alice, "sell", p, "10") for p in ("0.50", "0.51")}
    theirs = venue.place(venue.bob, "sell", "0.52", "10")
    assert set(venue.engine.cancel_all(venue.alice, "ADAUSDM", T0)) == mine
    assert venue.engine.order(venue.bob, theirs).status is Status.OPEN


# -- matching and fees -------------------------------------------------------------------


def test_crossing_order_fills_as_taker_at_resting_price_and_rests_the_remainder(
    venue: Venue,
) -> None:
    resting = venue.place(venue.bob, "sell", "0.4400", "30")
    incoming = venue.place(venue.alice, "buy", "0.4500", "100")
    taker = venue.engine.order(venue.alice, incoming)
    maker = venue.engine.order(venue.bob, resting)
    assert maker.status is Status.CLOSED and maker.records[0].role == "maker"
    assert taker.status is Status.OPEN
    assert (taker.executed_base_qty, taker.remaining) == (D("30"), D("70"))
    record = taker.records[0]
    assert (record.role, record.execution_price, record.counter_party_order_id) == (
        "taker",
        D("0.44"),
        resting,
    )
    # Locked 100·0.45 = 45; the fill spent 30·0.44 = 13.2 and released 30·0.45; 70·0.45 stays.
    assert venue.locked(venue.alice, "usdm") == D("31.5")
    assert venue.free(venue.alice, "usdm") == D("5000") - D("13.2") - D("31.5")
    assert venue.free(venue.alice, "ada") == D("10000") + D("30") - D("0.03")


def test_sell_commission_is_floored_to_6_dp_in_the_quote_received(venue: Venue) -> None:
    venue.place(venue.bob, "buy", "0.4321", "33.33")
    venue.place(venue.alice, "sell", "0.4321", "33.33")
    record = venue.engine.trades(venue.alice, "ADAUSDM")[0]
    assert record.filled_quote_qty == D("14.401893")
    assert record.commission == D("0.014401")
    assert record.commission_unit == USDM_UNIT
    assert venue.free(venue.alice, "usdm") == D("5000") + D("14.401893") - D("0.014401")
    assert venue.free(venue.alice, "ada") == D("10000") - D("33.33")
    assert venue.locked(venue.alice, "ada") == 0


def test_buy_commission_is_charged_in_base_lovelace(venue: Venue) -> None:
    venue.place(venue.bob, "sell", "0.4", "123.45")
    order_id = venue.place(venue.alice, "buy", "0.4", "123.45")
    order = venue.engine.order(venue.alice, order_id)
    assert order.status is Status.CLOSED
    assert (order.commission, order.commission_unit) == (D("0.12345"), "lovelace")
    assert venue.free(venue.alice, "ada") == D("10000") + D("123.45") - D("0.12345")
    assert venue.locked(venue.alice, "usdm") == 0


def test_each_change_queues_order_info_then_balance(venue: Venue) -> None:
    venue.engine.events()
    order_id = venue.place(venue.alice, "sell", "0.5", "10")
    kinds = [
        (type(e).__name__, e.order.status if isinstance(e, OrderChanged) else None)
        for _, e in venue.engine.events()
    ]
    assert kinds == [
        ("OrderChanged", "building"),
        ("BalanceChanged", None),
        ("OrderChanged", "open"),
    ]
    venue.engine.cancel(venue.alice, order_id, T0)
    events = venue.engine.events()
    assert isinstance(events[0][1], OrderChanged) and events[0][1].order.status is Status.CANCELLED
    assert isinstance(events[1][1], BalanceChanged)
    assert {account for account, _ in events} == {venue.alice}


# -- arbitrageur -------------------------------------------------------------------------


def test_arbitrageur_takes_a_crossed_order_in_full_after_the_delay(venue: Venue) -> None:
    order_id = venue.place(venue.alice, "sell", "0.4500", "500")
    venue.engine.on_reference(D("0.4500"), D("0.4501"), T0 + 1000)
    venue.engine.advance(T0 + 1199)
    assert venue.engine.order(venue.alice, order_id).executed_base_qty == 0
    venue.engine.advance(T0 + 1200)
    order = venue.engine.order(venue.alice, order_id)
    assert order.status is Status.CLOSED and order.executed_base_qty == D("500")
    assert order.records[0].role == "maker" and order.records[0].execution_price == D("0.45")


def test_arbitrageur_misses_an_order_cancelled_within_the_delay(venue: Venue) -> None:
    order_id = venue.place(venue.alice, "buy", "0.4500", "100")
    venue.engine.on_reference(D("0.4490"), D("0.4499"), T0 + 1000)
    venue.engine.cancel(venue.alice, order_id, T0 + 1100)
    venue.engine.advance(T0 + 5000)
    assert venue.engine.order(venue.alice, order_id).executed_base_qty == 0


def test_an_order_placed_through_the_reference_is_taken_after_the_delay(venue: Venue) -> None:
    venue.engine.on_reference(D("0.4490"), D("0.4495"), T0)
    order_id = venue.place(venue.alice, "buy", "0.4500", "100", now=T0 + 10)
    venue.engine.advance(T0 + 210)
    assert venue.engine.order(venue.alice, order_id).status is Status.CLOSED


# -- random takers -----------------------------------------------------------------------


def test_taker_intensity_is_a_exp_minus_k_delta() -> None:
    config = SimConfig()
    ref = Reference(bid=D("0.4999"), ask=D("0.5001"))
    assert intensity(config, "sell", D("0.5005"), ref) == pytest.approx(0.5 * math.exp(-0.15 * 10))
    assert intensity(config, "buy", D("0.4990"), ref) == pytest.approx(0.5 * math.exp(-0.15 * 20))
    assert intensity(config, "buy", None, ref) == 0


def _taker_run(
    keys: tuple[TestAccountKeys, TestAccountKeys], seed: int, price: str, seconds: int = 600
) -> list[tuple[int, Decimal]]:
    venue = make_venue(keys, SimConfig(seed=seed))
    venue.engine.on_reference(D("0.4999"), D("0.5001"), T0)
    venue.place(venue.alice, "sell", price, "9000", now=T0)
    venue.place(venue.alice, "sell", "0.6000", "900", now=T0)
    for step in range(1, seconds + 1):
        venue.engine.advance(T0 + step * 1000)
    return [
        (r.created_ms, r.filled_base_qty)
        for r in reversed(venue.engine.trades(venue.alice, "ADAUSDM"))
    ]


def test_taker_flow_is_seeded_and_deterministic(
    keys: tuple[TestAccountKeys, TestAccountKeys],
) -> None:
    first = _taker_run(keys, 7, "0.5005")
    assert first and first == _taker_run(keys, 7, "0.5005")
    assert first != _taker_run(keys, 8, "0.5005")


def test_takers_sweep_from_the_best_level_and_partial_fills_stay_open(
    keys: tuple[TestAccountKeys, TestAccountKeys],
) -> None:
    venue = make_venue(keys, SimConfig(seed=3, taker_rate_per_s=5.0))
    venue.engine.on_reference(D("0.4999"), D("0.5001"), T0)
    near = venue.place(venue.alice, "sell", "0.5002", "9000")
    far = venue.place(venue.alice, "sell", "0.5100", "100")
    venue.engine.advance(T0 + 5_000)
    near_order = venue.engine.order(venue.alice, near)
    assert 0 < near_order.executed_base_qty < D("9000")
    assert near_order.status is Status.OPEN
    assert venue.engine.order(venue.alice, far).executed_base_qty == 0


def test_taker_flow_thins_out_far_from_mid(keys: tuple[TestAccountKeys, TestAccountKeys]) -> None:
    near = len(_taker_run(keys, 11, "0.5002", seconds=60))
    far = len(_taker_run(keys, 11, "0.5050", seconds=60))
    # λ(2 bps) = 0.5·e^{-0.3} ≈ 0.37/s: ~22 takers in 60 s; λ(49 bps) ≈ 0.0003/s: ~0.
    assert near > 10 and far < 2


def test_fresh_account_has_no_balance_rows(venue: Venue) -> None:
    creds = Credentials(api_key="k3", operation_key_hash="00" * 28, encrypted_operation_key="{}")
    assert venue.engine.balances(venue.engine.add_account(creds, {})) == ()


@pytest.mark.parametrize(("seeded", "same"), [(False, False), (True, True)])
def test_ids_are_random_per_start_unless_a_deterministic_run_seeds_them(
    keys: tuple[TestAccountKeys, TestAccountKeys], seeded: bool, same: bool,
) -> None:
    def first_id() -> str:
        venue = make_venue(keys, SimConfig(taker_rate_per_s=0.0, seeded_ids=seeded))
        return venue.place(venue.alice, "sell", "0.6000", "100")

    assert (first_id() == first_id()) is same


def test_a_repeated_reference_keeps_the_arbitrage_schedule(venue: Venue) -> None:
    """The same prices again change nothing (only sizes moved on Binance): a crossed
    order keeps its first due time, and an order placed between the two ticks through
    that reference is still taken."""
    crossed = venue.place(venue.alice, "sell", "0.4500", "50")
    venue.engine.on_reference(D("0.4500"), D("0.4501"), T0 + 1000)
    later = venue.place(venue.alice, "sell", "0.4499", "50", now=T0 + 1050)
    venue.engine.on_reference(D("0.4500"), D("0.4501"), T0 + 1100)
    venue.engine.advance(T0 + 1200)
    assert venue.engine.order(venue.alice, crossed).status is Status.CLOSED
    assert venue.engine.order(venue.alice, later).executed_base_qty == 0
    venue.engine.advance(T0 + 1250)
    assert venue.engine.order(venue.alice, later).status is Status.CLOSED


def test_a_history_horizon_forgets_ended_orders_and_keeps_resting_ones(
        keys: tuple[TestAccountKeys, TestAccountKeys]) -> None:
    venue = make_venue(keys, attrs.evolve(NO_TAKERS, history_s=60.0))
    ended = venue.place(venue.alice, "sell", "0.5000", "10")
    venue.engine.cancel(venue.alice, ended, T0 + 1_000)
    resting = venue.place(venue.alice, "sell", "0.5100", "10")
    venue.engine.advance(T0 + 60_500)  # ended 59.5 s ago: still kept
    assert venue.engine.order(venue.alice, ended).status is Status.CANCELLED
    venue.engine.advance(T0 + 121_000)  # the next minute's sweep: ended 120 s ago
    with pytest.raises(SimError):
        venue.engine.order(venue.alice, ended)
    assert venue.engine.order(venue.alice, resting).status is Status.OPEN


def test_without_a_horizon_every_order_is_kept(venue: Venue) -> None:
    ended = venue.place(venue.alice, "sell", "0.5000", "10")
    venue.engine.cancel(venue.alice, ended, T0 + 1_000)
    venue.engine.advance(T0 + 10 * 3_600_000)
    assert venue.engine.order(venue.alice, ended).status is Status.CANCELLED
