"""The toxicity guard (SPEC §15, issue 14), pure: the markouts of our fills → a side widened
or paused, then the way back, step by step.

Sample. Per side, a fill counts with its latest markout (its 1 s one until its 10 s one is
read): the side's `window_fills` newest fills with a markout, made after the side's last
trigger. It is judged as each markout arrives, and only when it is full and every fill in
it is at most `window_s` old — enough fills to mean something, recent enough to be about
the market we quote in now: vw = Σ q·markout / Σ q. A vw below `threshold_bps` is toxic.

Trigger. A toxic sample widens the side by `widen_bps` (`action: widen`) or pulls it
(`action: pause`), empties the sample — its fills are consumed: a fill never triggers
twice — and starts the cooldown.

Recovery. `cooldown_s` after the side's last change, with no new trigger meanwhile, one
step: a pause becomes a widening by `widen_bps`; a widening halves; a widening below
`MIN_WIDEN_BPS` ends (recovered). widen 8 bps with a 30 s cooldown: +8 bps for 30 s, then
+4, +2, +1, and nothing 2 minutes after the trigger. A new trigger starts again from the
top. Each step is dated when it fell due, however late `advance` runs.

Restart. `restore` sets each side's level from its persisted events since its last
trigger; the markouts measured since then are replayed through `observe`
(`ddmm.quoting.guard.rebuild`), which rebuilds the sample exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

import attrs

from ddmm.domain.quotes import SIDES, PerSide, Side
from ddmm.domain.records import GUARD_TRIGGERS, GuardEventRecord, MarkoutRecord

Action = Literal["widen", "pause"]
MIN_WIDEN_BPS = Decimal(1)
"""A halved widening below this ends: recovery takes a bounded number of steps."""


@attrs.frozen(kw_only=True)
class ToxicityParams:
    """The `quote.toxicity` knobs, times in milliseconds."""

    enabled: bool
    threshold_bps: Decimal
    window_fills: int = attrs.field(validator=attrs.validators.ge(1))
    window_ms: int = attrs.field(validator=attrs.validators.gt(0))
    action: Action
    widen_bps: Decimal = attrs.field(validator=attrs.validators.ge(Decimal(0)))
    cooldown_ms: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True)
class SideToxicity:
    """One side: its level (`extra_bps`, `paused`) since `changed_ms`, the time of its last
    trigger (`evidence_ms`: fills made at or before it no longer count) and its sample,
    ascending by fill time."""

    extra_bps: Decimal = Decimal(0)
    paused: bool = False
    changed_ms: int = 0
    evidence_ms: int | None = None
    sample: tuple[MarkoutRecord, ...] = ()

    @property
    def neutral(self) -> bool:
        return not self.paused and self.extra_bps == 0


Toxicity = PerSide[SideToxicity]
CLEAN: Toxicity = PerSide(SideToxicity(), SideToxicity())


def volume_weighted(markouts: Iterable[MarkoutRecord]) -> Decimal | None:
    """Σ q·markout / Σ q; None over no volume."""
    rows = list(markouts)
    weight = sum((m.qty for m in rows), Decimal(0))
    if weight == 0:
        return None
    return sum((m.qty * m.bps for m in rows), Decimal(0)) / weight


def judged(side: SideToxicity, now_ms: int, params: ToxicityParams) -> Decimal | None:
    """The sample's vw markout when it is full of fills at most `window_s` old, else None."""
    fresh = [m for m in side.sample if m.fill_ms >= now_ms - params.window_ms]
    return volume_weighted(fresh) if len(fresh) >= params.window_fills else None


def observe(state: Toxicity, markout: MarkoutRecord,
            params: ToxicityParams) -> tuple[Toxicity, tuple[GuardEventRecord, ...]]:
    """Fold one markout (read at `markout.measured_ms`) into its side; trigger the side when
    its sample turns toxic (and the guard is enabled). The markout of a fill made before
    the side's last trigger, or already older than `window_s`, is not sampled."""
    side = state.get(markout.side)
    now_ms = markout.measured_ms
    if ((side.evidence_ms is not None and markout.fill_ms <= side.evidence_ms)
            or markout.fill_ms < now_ms - params.window_ms):
        return state, ()
    side = attrs.evolve(side, sample=_merged(side.sample, markout, params.window_fills))
    vw = judged(side, now_ms, params)
    if not params.enabled or vw is None or vw >= params.threshold_bps:
        return state.set(markout.side, side), ()
    paused = params.action == "pause"
    extra = Decimal(0) if paused else params.widen_bps
    event = GuardEventRecord(
        ts_ms=now_ms, kind="toxicity_pause" if paused else "toxicity_widen",
        side=markout.side, extra_bps=extra, paused=paused,
        reason=f"markout {vw:.2f} bps over {params.window_fills} fills"
               f" < {params.threshold_bps} bps")
    triggered = SideToxicity(extra_bps=extra, paused=paused, changed_ms=now_ms,
                             evidence_ms=now_ms)
    return state.set(markout.side, triggered), (event,)


def _merged(sample: tuple[MarkoutRecord, ...], markout: MarkoutRecord,
            keep: int) -> tuple[MarkoutRecord, ...]:
    """`markout` in its fill's place (a longer horizon replaces a shorter one), then the
    `keep` newest fills."""
    if any(m.trade_id == markout.trade_id and m.horizon_s >= markout.horizon_s
           for m in sample):
        return sample
    rest = [m for m in sample if m.trade_id != markout.trade_id]
    return tuple(sorted((*rest, markout), key=lambda m: (m.fill_ms, m.trade_id))[-keep:])


def next_step_ms(side: SideToxicity, params: ToxicityParams) -> int | None:
    """When the side's next recovery step falls due; None when it is neutral."""
    return None if side.neutral else side.changed_ms + params.cooldown_ms


def advance(state: Toxicity, now_ms: int,
            params: ToxicityParams) -> tuple[Toxicity, tuple[GuardEventRecord, ...]]:
    """Take every recovery step due by `now_ms`, each dated when it fell due, and drop from
    the samples the fills older than `window_s` (they can never be judged again)."""
    events: list[GuardEventRecord] = []
    for name in SIDES:
        side = state.get(name)
        due = next_step_ms(side, params)
        while due is not None and due <= now_ms:
            side = _stepped(side, due, params)
            events.append(GuardEventRecord(
                ts_ms=due, kind="toxicity_recovered" if side.neutral else "toxicity_eased",
                side=name, extra_bps=side.extra_bps, paused=False,
                reason=f"no trigger for {params.cooldown_ms / 1000:g} s"))
            due = next_step_ms(side, params)
        oldest = now_ms - params.window_ms
        state = state.set(name, attrs.evolve(
            side, sample=tuple(m for m in side.sample if m.fill_ms >= oldest)))
    return state, tuple(events)


def _stepped(side: SideToxicity, at_ms: int, params: ToxicityParams) -> SideToxicity:
    """One recovery step: pause → widen_bps → halves → 0 below `MIN_WIDEN_BPS`."""
    extra = params.widen_bps if side.paused else side.extra_bps / 2
    if extra < MIN_WIDEN_BPS:
        extra = Decimal(0)
    return attrs.evolve(side, extra_bps=extra, paused=False, changed_ms=at_ms)


def restore(events: Iterable[GuardEventRecord], params: ToxicityParams) -> Toxicity:
    """Each side's level after its persisted toxicity events (oldest first; those since its
    last trigger are enough). A disabled guard starts clean, whatever it did before."""
    state = CLEAN
    if not params.enabled:
        return state
    for event in events:
        if event.mechanism != "toxicity":
            continue
        side: Side = event.side
        evidence = event.ts_ms if event.kind in GUARD_TRIGGERS else state.get(side).evidence_ms
        state = state.set(side, SideToxicity(extra_bps=event.extra_bps, paused=event.paused,
                                             changed_ms=event.ts_ms, evidence_ms=evidence))
    return state
