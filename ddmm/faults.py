"""Test-only crash points for the crash drills (SPEC §10).

`DDMM_FAULT_POINT=<name>` makes the process kill itself with SIGKILL the first time it
reaches the named point — a real `kill -9`, no cleanup, no flush — so a drill can stop
the bot at an exact place in the order path. Unset (always, in production) it does
nothing. `DDMM_FAULT_SKIP=<n>` lets the first n passes through the point go by.
"""

from __future__ import annotations

import os
import signal

ENV_POINT = "DDMM_FAULT_POINT"
ENV_SKIP = "DDMM_FAULT_SKIP"

_passes: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Die here with SIGKILL if this is the configured fault point."""
    if os.environ.get(ENV_POINT) != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] > int(os.environ.get(ENV_SKIP, "0")):
        os.kill(os.getpid(), signal.SIGKILL)
