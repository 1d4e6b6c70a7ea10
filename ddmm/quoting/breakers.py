"""The same-side fill breaker (issue 14, DeltaDeFi's own market-making scripts), pure.

`same_side_fills` fills of one side made within the last `window_s` — someone taking
everything we offer on one side, faster than any honest flow — pull that side for
`cooldown_s`. Fills are counted by their own (exchange) times, from the moment the guard
learns of them; the ones counted are consumed by the trip (a fill never trips twice), and
a fill made before the trip but learned after it does not count either. A trip while the
side is already pulled extends the pull. The pull ends `cooldown_s` after the last trip,
dated then however late `advance` runs.

Every fill counts, a partial fill included: a taker sweeping three of our levels at once
is three fills, which is the point.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from ddmm.domain.quotes import SIDES, PerSide
from ddmm.domain.records import FillRecord, GuardEventRecord

_NO_BPS = Decimal(0)


@attrs.frozen(kw_only=True)
class BreakerParams:
    """The `quote.breakers` knobs, times in milliseconds."""

    enabled: bool
    same_side_fills: int = attrs.field(validator=attrs.validators.ge(1))
    window_ms: int = attrs.field(validator=attrs.validators.gt(0))
    cooldown_ms: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True)
class SideBreaker:
    """One side: the times of its newest fills since its last trip (ascending, at most
    `same_side_fills`), that trip's time, and until when the side is pulled."""

    recent_ms: tuple[int, ...] = ()
    tripped_ms: int | None = None
    pulled_until_ms: int | None = None


Breakers = PerSide[SideBreaker]
CLOSED: Breakers = PerSide(SideBreaker(), SideBreaker())


def on_fill(state: Breakers, fill: FillRecord, now_ms: int,
            params: BreakerParams) -> tuple[Breakers, tuple[GuardEventRecord, ...]]:
    """Count `fill`, learned at `now_ms`; trip its side when `same_side_fills` of them fall
    within the last `window_s`."""
    side = state.get(fill.side)
    if (not params.enabled or fill.quarantined
            or (side.tripped_ms is not None and fill.ts_ms <= side.tripped_ms)):
        return state, ()
    oldest = now_ms - params.window_ms
    recent = tuple(t for t in sorted((*side.recent_ms, fill.ts_ms))
                   if t >= oldest)[-params.same_side_fills:]
    if len(recent) < params.same_side_fills:
        return state.set(fill.side, attrs.evolve(side, recent_ms=recent)), ()
    until = now_ms + params.cooldown_ms
    event = GuardEventRecord(
        ts_ms=now_ms, kind="breaker_tripped", side=fill.side, extra_bps=_NO_BPS, paused=True,
        reason=f"{len(recent)} {fill.side} fills within {params.window_ms / 1000:g} s;"
               f" pulled for {params.cooldown_ms / 1000:g} s")
    return state.set(fill.side, SideBreaker(tripped_ms=now_ms, pulled_until_ms=until)), (event,)


def advance(state: Breakers, now_ms: int,
            params: BreakerParams) -> tuple[Breakers, tuple[GuardEventRecord, ...]]:
    """End the pulls due by `now_ms` (dated when due) and forget fills older than
    `window_s`."""
    events: list[GuardEventRecord] = []
    for name in SIDES:
        side = state.get(name)
        until = side.pulled_until_ms
        if until is not None and until <= now_ms:
            side = attrs.evolve(side, pulled_until_ms=None)
            events.append(GuardEventRecord(
                ts_ms=until, kind="breaker_cleared", side=name, extra_bps=_NO_BPS,
                paused=False, reason=f"cooldown of {params.cooldown_ms / 1000:g} s over"))
        oldest = now_ms - params.window_ms
        state = state.set(name, attrs.evolve(
            side, recent_ms=tuple(t for t in side.recent_ms if t >= oldest)))
    return state, tuple(events)


def restore(events: Iterable[GuardEventRecord], params: BreakerParams) -> Breakers:
    """Each side's trip and pull after its persisted breaker events (oldest first; those
    since its last trip are enough). A disabled breaker starts closed."""
    state = CLOSED
    if not params.enabled:
        return state
    for event in events:
        if event.mechanism != "breaker":
            continue
        if event.kind == "breaker_tripped":
            side = SideBreaker(tripped_ms=event.ts_ms,
                               pulled_until_ms=event.ts_ms + params.cooldown_ms)
        else:
            side = attrs.evolve(state.get(event.side), pulled_until_ms=None)
        state = state.set(event.side, side)
    return state
