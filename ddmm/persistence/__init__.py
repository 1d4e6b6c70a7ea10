"""ddmm.persistence: the sqlite persistence actor, its schema and its records (SPEC §7).

All SQL of ddmm lives in this package. Use `open_persistence(config)` (or `run` under a
supervisor) for the async handle, `open_readonly(path)` for offline reads.

Layout: `thread` (the one connection, group commit, the Trio bridge and why it is built
that way), `actor` (the typed async handle), `queries` (every SQL statement), `schema`
(pragmas and versioned migrations), `records` (values in and out), `readonly`. There is no
outbox table: the outbox is the set of orders in `OUTBOX_STATES`, so it can never disagree
with the orders it stands for.
"""

from ddmm.persistence.actor import Persistence, open_persistence, run
from ddmm.persistence.readonly import ReadOnlyDb, open_readonly
from ddmm.persistence.records import (
    OUTBOX_STATES,
    BalanceRecord,
    OrderEventRecord,
    OrderRecord,
    OrderUpdate,
    PersistenceStats,
    PersistenceTuning,
)

__all__ = [
    "OUTBOX_STATES",
    "BalanceRecord",
    "OrderEventRecord",
    "OrderRecord",
    "OrderUpdate",
    "Persistence",
    "PersistenceStats",
    "PersistenceTuning",
    "ReadOnlyDb",
    "open_persistence",
    "open_readonly",
    "run",
]
