"""In-memory stand-in for the guard's restart query, shared by the guard tests."""

from __future__ import annotations

from ddmm.domain.records import GUARD_TRIGGERS, GuardEventRecord


def events_since_triggers(events: list[GuardEventRecord]) -> list[GuardEventRecord]:
    """What `guard_queries.guard_events_since_triggers` returns for these stored events:
    per side and mechanism, the last trigger and everything after it, in stored order."""
    keep: list[GuardEventRecord] = []
    for side in ("buy", "sell"):
        for mechanism in ("toxicity", "breaker"):
            mine = [e for e in events if e.side == side and e.mechanism == mechanism]
            last = max((i for i, e in enumerate(mine) if e.kind in GUARD_TRIGGERS),
                       default=None)
            keep.extend([] if last is None else mine[last:])
    return sorted(keep, key=events.index)
