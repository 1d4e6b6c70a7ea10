"""The backtest's progress bar on a terminal (rich), fed with virtual seconds replayed.

The bar is redrawn by hand, at most every `REFRESH_S` of wall time: rich's automatic
refresh runs a thread, and a backtest may start none while virtual time runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

REFRESH_S = 0.2


@contextlib.contextmanager
def progress_bar(label: str, total_s: float, *,
                 enabled: bool) -> Iterator[Callable[[float], None] | None]:
    """Yield the callback to report progress with, or None when `enabled` is false."""
    if not enabled:
        yield None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed:.0f}/{task.total:.0f} virtual s"),
                   TimeElapsedColumn(), console=Console(stderr=True), auto_refresh=False,
                   transient=True)
    task = bar.add_task(label, total=max(total_s, 1.0))
    last = 0.0

    def advance(virtual_s: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= REFRESH_S:
            last = now
            bar.update(task, completed=virtual_s)
            bar.refresh()

    with bar:
        yield advance
