"""`decide.evaluate` builds a ladder once per distinct input (book prices, inventory):
a tick that changes only the touch sizes reuses it, anything the ladder reads rebuilds it."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
from hypothesis import given
from hypothesis import strategies as st

from ddmm.config.schema import QuoteConfig, RequoteConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory
from ddmm.quoting import decide
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config, requote_policy_from_config

PARAMS = ladder_params_from_config(QuoteConfig())
POLICY = requote_policy_from_config(RequoteConfig())
INVENTORY = Inventory(ada_free=D(20000), ada_locked=D(0), usdm_free=D(9000), usdm_locked=D(0))


def tick(bid: str, ask: str, bid_qty: str = "1") -> BookTick:
    return BookTick(symbol="ADAUSDT", update_id=1, bid=D(bid), bid_qty=D(bid_qty), ask=D(ask),
                    ask_qty=D(1), recv_ns=0)


def evaluated(state: decide.QuoterState, book: BookTick,
              inventory: Inventory = INVENTORY) -> decide.QuoterState:
    state = decide.on_inventory(decide.on_tick(state, book, D(500)), inventory)
    state, _ = decide.evaluate(state, PARAMS, POLICY, stale=False, now_ms=0, ts_ns=0)
    return state


def test_a_tick_that_changes_only_sizes_reuses_the_built_ladder() -> None:
    first = evaluated(decide.QuoterState(), tick("0.4500", "0.4501"))
    again = evaluated(first, tick("0.4500", "0.4501", bid_qty="77"))
    assert first.built is not None and again.built is first.built


def test_new_prices_or_inventory_rebuild_the_ladder() -> None:
    first = evaluated(decide.QuoterState(), tick("0.4500", "0.4501"))
    moved = evaluated(first, tick("0.4501", "0.4502"))
    richer = evaluated(first, tick("0.4500", "0.4501"),
                       attrs.evolve(INVENTORY, ada_free=D(30000)))
    assert first.built is not None and moved.built is not None and richer.built is not None
    assert moved.built[1].bids[0].price > first.built[1].bids[0].price
    assert richer.built[1] != first.built[1]


@given(st.integers(4000, 5000), st.integers(1, 5), st.integers(10_000, 40_000))
def test_the_reused_ladder_is_the_one_build_ladder_gives(bid: int, spread: int,
                                                        ada: int) -> None:
    book = tick(f"{D(bid) / 10_000}", f"{D(bid + spread) / 10_000}")
    inventory = attrs.evolve(INVENTORY, ada_free=D(ada))
    state = evaluated(evaluated(decide.QuoterState(), book, inventory), book, inventory)
    assert state.built is not None
    assert state.built[1] == build_ladder(book, inventory, PARAMS)
