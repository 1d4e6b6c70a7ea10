"""The quoter's decisions, pure: which ticks to trust, when to hold, when to emit a target.

The quoter actor keeps a `QuoterState`, feeds it ticks, inventory, the quote guard's
adjustment and the hedger's paused sides with `on_tick`, `on_inventory`, `on_guard` and
`on_hedge_pause`, and asks `evaluate` for the `TargetLadder` to send, if any. Time and the
feed's staleness come in as arguments; the vol estimator's clock is the ticks' `recv_ns`.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ddmm.domain.market import BookTick
from ddmm.domain.money import BPS
from ddmm.domain.quotes import (
    NO_GUARD,
    Inventory,
    Ladder,
    PerSide,
    QuoteGuard,
    SideGuard,
    TargetLadder,
)
from ddmm.hedging.exposure import NOT_PAUSED
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import LadderParams, RequotePolicy
from ddmm.quoting.requote import RequoteMark, requote_due
from ddmm.quoting.skew import Ratio
from ddmm.quoting.vol import VolEstimate, VolParams, observe, spread_scale


@attrs.frozen(kw_only=True)
class QuoterState:
    """`book` is the last trusted tick; `suspect` a jump waiting for a second tick;
    `vol` the σ estimate over the trusted ticks (None while vol scaling is off); `guard` the
    quote guard's latest adjustment; `hedge_pause` the sides the hedger pauses while a
    hedge is in flight (SPEC §16); `built` the last ladder built and the inputs it was
    built from."""

    book: BookTick | None = None
    suspect: BookTick | None = None
    inventory: Inventory | None = None
    vol: VolEstimate | None = None
    guard: QuoteGuard = NO_GUARD
    hedge_pause: PerSide[bool] = NOT_PAUSED
    mark: RequoteMark | None = None
    built: tuple[LadderInputs, Ladder] | None = None


LadderInputs = tuple[
    Decimal, Decimal, tuple[Decimal, Decimal] | None, Inventory, Ratio, QuoteGuard]
"""Everything `build_ladder` reads besides the params: the best bid and ask, the touch sizes
(only with the microprice anchor, None otherwise), the inventory, the spread scale and the
quote guard's adjustment with the hedger's pauses folded in (`effective_guard`). Most ticks
change only the sizes at the touch (or move less than our tick once rescaled), so the ladder
of the same inputs is reused instead of rebuilt (`_ladder`)."""


def _jump_bps(a: BookTick, b: BookTick) -> Decimal:
    return abs(b.mid - a.mid) / a.mid * BPS


def on_tick(
    state: QuoterState, tick: BookTick, max_jump_bps: Decimal, vol: VolParams
) -> QuoterState:
    """Trust `tick` unless its mid jumped more than `max_jump_bps` from the trusted one.

    A jump is held as suspect until the next tick: if that one is near the suspect (the
    move is real) or near the old price (it was a glitch), it is trusted; otherwise it
    becomes the new suspect (SPEC §3). Only trusted ticks feed the σ estimate: a confirmed
    jump counts in full (from the last trusted mid), a glitch not at all.
    """
    trusted = state.book is None or _jump_bps(state.book, tick) <= max_jump_bps or (
        state.suspect is not None and _jump_bps(state.suspect, tick) <= max_jump_bps
    )
    if not trusted:
        return attrs.evolve(state, suspect=tick)
    estimate = state.vol
    if vol.enabled:
        estimate = observe(estimate, tick.mid, tick.recv_ns, vol.halflife_s)
    return attrs.evolve(state, book=tick, suspect=None, vol=estimate)


def on_inventory(state: QuoterState, inventory: Inventory) -> QuoterState:
    return attrs.evolve(state, inventory=inventory)


def on_guard(state: QuoterState, guard: QuoteGuard) -> QuoterState:
    """The quote guard's new adjustment: the next ladder is built with it."""
    return attrs.evolve(state, guard=guard)


def on_hedge_pause(state: QuoterState, paused: PerSide[bool]) -> QuoterState:
    """The hedger's paused sides: the next ladder has no levels on them."""
    return attrs.evolve(state, hedge_pause=paused)


def effective_guard(state: QuoterState) -> QuoteGuard:
    """The guard the ladder is built with: a side is paused when the quote guard or the
    hedger pauses it (its widening is kept, for when it resumes)."""
    def side(guard: SideGuard, hedge_paused: bool) -> SideGuard:
        return attrs.evolve(guard, paused=True) if hedge_paused else guard

    return PerSide(side(state.guard.buy, state.hedge_pause.buy),
                   side(state.guard.sell, state.hedge_pause.sell))


def hold_reason(state: QuoterState, stale: bool) -> str | None:
    """Why nothing should be quoted now, or None."""
    if stale:
        return "feed_stale"
    if state.suspect is not None:
        return "price_jump_unconfirmed"
    if state.book is None:
        return "no_book"
    if state.inventory is None:
        return "no_inventory"
    return None


def evaluate(
    state: QuoterState,
    params: LadderParams,
    policy: RequotePolicy,
    *,
    stale: bool,
    now_ms: int,
    ts_ns: int,
) -> tuple[QuoterState, TargetLadder | None]:
    """Build the current target; return it (and remember it) only when `requote_due`.

    The vol spread scale (1 while `params.vol` is off) widens the ladder and stretches the
    requote throttle alike.
    """
    reason = hold_reason(state, stale)
    book = state.book
    scale = spread_scale(state.vol, params.vol)
    if reason is not None or book is None or state.inventory is None:
        zero = Decimal(0)
        ladder = Ladder(
            bids=(), asks=(), gamma=zero,
            ref_bid=book.bid if book else zero, ref_ask=book.ask if book else zero,
            hold_reason=reason or "no_book",
        )
    else:
        ladder, state = _ladder(state, book, state.inventory, params, scale)
    if not requote_due(state.mark, ladder, policy, now_ms, throttle_scale=scale):
        return state, None
    target = TargetLadder(
        ladder=ladder, source_update_id=book.update_id if book else 0, ts_ns=ts_ns
    )
    return attrs.evolve(state, mark=RequoteMark(ladder=ladder, at_ms=now_ms)), target


def _ladder(state: QuoterState, book: BookTick, inventory: Inventory,
            params: LadderParams, scale: Ratio) -> tuple[Ladder, QuoterState]:
    """The ladder for `book`, `inventory`, `scale` and the guard with the hedger's pauses,
    built once per distinct input."""
    sizes = (book.bid_qty, book.ask_qty) if params.anchor == "microprice" else None
    guard = effective_guard(state)
    inputs = (book.bid, book.ask, sizes, inventory, scale, guard)
    if state.built is not None and state.built[0] == inputs:
        return state.built[1], state
    ladder = build_ladder(book, inventory, params, spread_scale=scale, guard=guard)
    return ladder, attrs.evolve(state, built=(inputs, ladder))
