"""Shadow mode's SQL (SPEC §14): what the bot would have done, kept apart from the orders.

A plain function of a connection, like every query in `queries`: the caller owns the
transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ddmm.domain.records import ShadowDecision
from ddmm.persistence.queries import dec


def record_shadow(conn: sqlite3.Connection, decisions: Iterable[ShadowDecision]) -> None:
    conn.executemany(
        "INSERT INTO shadow_decisions (ts_ms, kind, side, price, qty, layer, reason, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(d.ts_ms, d.kind, d.side, None if d.price is None else dec(d.price),
          None if d.qty is None else dec(d.qty), d.layer, d.reason, d.detail)
         for d in decisions])
