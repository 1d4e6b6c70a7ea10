"""Suite-wide test setup: which tests share a worker when the suite runs in parallel.

`make test` runs pytest-xdist with `--dist loadgroup`. The drills start real processes and
check each other's output: the risk, exchange and exposure drills write under one
directory that the secrets scan (last in `test_drills_risk.py`) reads, so they run on one
worker, in file order; the crash drills and the virtual-time runs get a worker each so
the slow groups overlap. Every other test is spread by load.
"""

from __future__ import annotations

import pytest

_GROUPS = {
    "test_drills_crash.py": "crash-drills",
    "test_drills_doctor.py": "doctor-drills",
    "test_drills_live.py": "risk-drills",
    "test_drills_exchange.py": "risk-drills",
    "test_drills_exposure.py": "risk-drills",
    "test_drills_risk.py": "risk-drills",
    "test_drills_feed.py": "virtual-drills",
    "test_drill_midnight_virtual.py": "virtual-drills",
    "test_paper_soak_virtual.py": "virtual-drills",
    "test_drills_hedging_crash.py": "hedging-crash-drills",
    "test_drills_hedging_virtual.py": "hedging-virtual-drills",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each drill with its group before xdist's worker reads the marks (its own
    hook turns them into the node id suffix `loadgroup` schedules by)."""
    for item in items:
        group = _GROUPS.get(item.path.name)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
