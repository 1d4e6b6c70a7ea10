"""The quote guard (SPEC §15, issue 14), pure: our fills and the Binance mid → each side
widened or paused by the toxicity guard, or pulled by the same-side fill breaker.

One state, three parts: the markouts still to be read (`markout`), the toxicity guard that
judges them (`toxicity`), the breaker that counts fills (`breakers`). The guard actor calls
`step` with the fills it has just learned of (often none) whenever a fill is recorded or
`next_due_ms` comes, persists what it returns — the markouts read and the events, together
— and publishes `quote_guard(state)` for the quoter. Time is always an argument.

Restart. `rebuild` gives back the state from the database: each side's level from its
events since its last trigger (a trigger consumed the evidence before it, so nothing older
matters), the toxicity samples by replaying the markouts measured since (in the order they
were read, judging nothing: every trigger they caused is among the events), the breaker's
count and the markouts still to be read from the fills of the last `lookback_ms`, as if
just learned. Steps that fell due while the bot was down are taken then, dated when due.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ddmm.domain.quotes import SIDES, PerSide, QuoteGuard, Side, SideGuard
from ddmm.domain.records import FillRecord, GuardEventRecord, MarkoutRecord
from ddmm.quoting import breakers as brk
from ddmm.quoting import markout
from ddmm.quoting import toxicity as tox
from ddmm.quoting.breakers import BreakerParams, Breakers
from ddmm.quoting.markout import PendingFill
from ddmm.quoting.toxicity import Toxicity, ToxicityParams


@attrs.frozen(kw_only=True)
class GuardParams:
    toxicity: ToxicityParams
    breakers: BreakerParams


@attrs.frozen(kw_only=True)
class GuardState:
    pending: tuple[PendingFill, ...] = ()
    toxicity: Toxicity = tox.CLEAN
    breakers: Breakers = brk.CLOSED


@attrs.frozen(kw_only=True)
class GuardEffects:
    """What a step decided, to persist in one transaction: the markouts read and the
    events (each side's changes, oldest first)."""

    markouts: tuple[MarkoutRecord, ...] = ()
    events: tuple[GuardEventRecord, ...] = ()


def step(state: GuardState, fills: Iterable[FillRecord], mid: Decimal | None, now_ms: int,
         params: GuardParams) -> tuple[GuardState, GuardEffects]:
    """Take the steps due by `now_ms`, learn `fills` (their markouts scheduled, the breaker's
    count), read the markouts due at `mid` and judge them."""
    state, stepped = _advanced(state, now_ms, params)
    state, tripped = _learned(state, fills, now_ms, params, lambda fill: (mid, ()))
    pending: list[PendingFill] = []
    read: list[MarkoutRecord] = []
    for fill in state.pending:
        got, rest = markout.measure(fill, mid, now_ms)
        read.extend(got)
        if rest is not None:
            pending.append(rest)
    toxicity, judged = state.toxicity, list[GuardEventRecord]()
    for reading in read:
        toxicity, events = tox.observe(toxicity, reading, params.toxicity)
        judged.extend(events)
    state = attrs.evolve(state, pending=tuple(pending), toxicity=toxicity)
    return state, GuardEffects(markouts=tuple(read), events=(*stepped, *tripped, *judged))


def _advanced(state: GuardState, now_ms: int,
              params: GuardParams) -> tuple[GuardState, tuple[GuardEventRecord, ...]]:
    toxicity, eased = tox.advance(state.toxicity, now_ms, params.toxicity)
    breakers, cleared = brk.advance(state.breakers, now_ms, params.breakers)
    events = tuple(sorted((*eased, *cleared), key=lambda e: e.ts_ms))
    return attrs.evolve(state, toxicity=toxicity, breakers=breakers), events


KnownOf = Callable[[FillRecord], tuple[Decimal | None, Collection[int]]]
"""fill → (its mid at the fill if known, the horizons already read)."""


def _learned(state: GuardState, fills: Iterable[FillRecord], now_ms: int, params: GuardParams,
             known: KnownOf) -> tuple[GuardState, tuple[GuardEventRecord, ...]]:
    """Schedule the markouts of `fills`, learned at `now_ms`, and count them for the breaker;
    quarantined fills (side unknown) are not ours to judge."""
    pending = list(state.pending)
    breakers, events = state.breakers, list[GuardEventRecord]()
    for fill in fills:
        if fill.quarantined:
            continue
        mid, measured = known(fill)
        scheduled = markout.pending(fill, mid, now_ms, measured)
        if scheduled is not None:
            pending.append(scheduled)
        breakers, tripped = brk.on_fill(breakers, fill, now_ms, params.breakers)
        events.extend(tripped)
    return attrs.evolve(state, pending=tuple(pending), breakers=breakers), tuple(events)


def next_due_ms(state: GuardState, params: GuardParams) -> int | None:
    """The next instant `step` has something to do without a new fill; None if none."""
    times: list[int | None] = [fill.due_ms for fill in state.pending]
    for name in SIDES:
        times.append(tox.next_step_ms(state.toxicity.get(name), params.toxicity))
        times.append(state.breakers.get(name).pulled_until_ms)
    return min((t for t in times if t is not None), default=None)


def quote_guard(state: GuardState) -> QuoteGuard:
    """Each side's adjustment: the toxicity guard's widening, paused by either mechanism."""
    def side(name: Side) -> SideGuard:
        toxic = state.toxicity.get(name)
        pulled = state.breakers.get(name).pulled_until_ms is not None
        return SideGuard(extra_bps=toxic.extra_bps, paused=toxic.paused or pulled)

    return PerSide(side("buy"), side("sell"))


def lookback_ms(params: GuardParams) -> int:
    """How far back `rebuild` needs the fills and their markouts: the toxicity window, the
    breaker's window, and the longest markout horizon still readable."""
    horizon_ms = max(markout.HORIZONS_S) * 1000 + markout.LATE_TOLERANCE_MS
    return max(params.toxicity.window_ms, params.breakers.window_ms, horizon_ms)


def rebuild(events: Iterable[GuardEventRecord], fills: Sequence[FillRecord],
            markouts: Sequence[MarkoutRecord], mid: Decimal | None, now_ms: int,
            params: GuardParams) -> tuple[GuardState, GuardEffects]:
    """The state at `now_ms` from the database (module docstring): `events` each side's
    guard events since its last trigger, oldest first; `fills` and `markouts` those of
    the last `lookback_ms`, markouts in the order they were read."""
    events = list(events)
    replay = attrs.evolve(params.toxicity, enabled=False)
    toxicity = tox.restore(events, params.toxicity)
    for reading in markouts:
        toxicity, _ = tox.observe(toxicity, reading, replay)
    state = GuardState(toxicity=toxicity, breakers=brk.restore(events, params.breakers))
    state, stepped = _advanced(state, now_ms, params)
    first_mid = {m.trade_id: m.mid_at_fill for m in markouts}
    read: dict[str, set[int]] = {}
    for reading in markouts:
        read.setdefault(reading.trade_id, set()).add(reading.horizon_s)

    def known(fill: FillRecord) -> tuple[Decimal | None, set[int]]:
        return first_mid.get(fill.trade_id, mid), read.get(fill.trade_id, set())

    state, tripped = _learned(state, fills, now_ms, params, known)
    return state, GuardEffects(events=(*stepped, *tripped))


@attrs.frozen(kw_only=True)
class GuardStatus:
    """What the guard publishes after each step, for `/metrics` (gauges per side) and the
    status line."""

    guard: QuoteGuard
    toxicity: PerSide[tox.SideToxicity]
    markout_bps: PerSide[Decimal | None]
    """The volume-weighted markout of each side's sample, full or not (what the guard
    would judge)."""
    breaker_pulled: PerSide[bool]
    pending_markouts: int

    def report(self) -> dict[str, Any]:
        """Flat fields, one dict per figure keyed by side (a labelled gauge each)."""
        def per_side(value: Callable[[Side], Any]) -> dict[str, Any]:
            return {name: value(name) for name in SIDES}

        def bps(value: Decimal | None) -> str | None:
            return None if value is None else str(round(value, 2))

        return {
            "guard_extra_bps": per_side(lambda s: str(self.guard.get(s).extra_bps)),
            "guard_paused": per_side(lambda s: self.guard.get(s).paused),
            "toxicity_paused": per_side(lambda s: self.toxicity.get(s).paused),
            "breaker_pulled": per_side(self.breaker_pulled.get),
            "toxicity_markout_bps": per_side(lambda s: bps(self.markout_bps.get(s))),
            "toxicity_sample_fills": per_side(lambda s: len(self.toxicity.get(s).sample)),
            "markouts_pending": self.pending_markouts,
        }


def status(state: GuardState) -> GuardStatus:
    """What the actor publishes of `state`."""
    toxicity = state.toxicity
    return GuardStatus(
        guard=quote_guard(state), toxicity=toxicity,
        markout_bps=PerSide(tox.volume_weighted(toxicity.buy.sample),
                            tox.volume_weighted(toxicity.sell.sample)),
        breaker_pulled=PerSide(state.breakers.buy.pulled_until_ms is not None,
                               state.breakers.sell.pulled_until_ms is not None),
        pending_markouts=len(state.pending))
