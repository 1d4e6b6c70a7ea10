"""Health and metrics from status snapshots, pure (SPEC §8).

The ops server and the status report read the same flat snapshots (feed, orders,
account); this module turns them into the health verdict and the Prometheus text format,
so both rules are testable without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NAME = re.compile(r"[^a-zA-Z0-9_]")


def health(snapshot: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """Healthy only when the feed is fresh, the exchange answers and nothing halts us."""
    problems = []
    if snapshot.get("feed_stale", True):
        problems.append("feed stale")
    halts = list(snapshot.get("halts", []))
    if "exchange_unreachable" in halts:
        problems.append("exchange unreachable")
    if snapshot.get("risk") == "halted" or halts:
        problems.append("halted: " + ", ".join(halts or ["risk"]))
    return not problems, problems


def prometheus_text(snapshot: Mapping[str, Any], *, prefix: str = "ddmm") -> str:
    """Every numeric field (and every number inside a dict field, labelled by key) as a
    gauge; text fields are skipped. Names are `<prefix>_<field>`."""
    lines: list[str] = []
    for field, value in sorted(snapshot.items()):
        name = f"{prefix}_{_NAME.sub('_', field)}"
        if isinstance(value, Mapping):
            lines.append(f"# TYPE {name} gauge")
            for label, inner in sorted(value.items()):
                number = _number(inner)
                if number is not None:
                    lines.append(f'{name}{{key="{_NAME.sub("_", str(label))}"}} {number}')
            continue
        number = _number(value)
        if number is not None:
            lines += [f"# TYPE {name} gauge", f"{name} {number}"]
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return None
        return value
    return None
