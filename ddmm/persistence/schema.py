"""Connection settings and versioned schema migrations.

`schema_version` holds one row per applied migration; `migrate` applies, in order and each
in its own transaction, every migration newer than the highest recorded version, so
reopening a database is a no-op and a crash mid-migration leaves the previous version.
Money columns are TEXT decimal strings (never REAL: sqlite's REAL is binary floating
point); times are INTEGER milliseconds UTC, so plain `sqlite3` can read everything.
"""

from __future__ import annotations

import sqlite3
import time

from ddmm.errors import PersistenceError

SYNCHRONOUS_MODES = ("NORMAL", "FULL")
WAL_AUTOCHECKPOINT_PAGES = 4000
"""Safety cap on the WAL (~16 MiB at 4 KiB pages). sqlite's default of 1000 checkpoints
inside a commit often enough to put its fsyncs on the p99 commit latency; the database
thread checkpoints when idle instead, and this cap only bounds the WAL under sustained
load."""

_STATES = (
    "'new','building','built','submitting','open','partially_filled','filled',"
    "'cancelling','cancelled','rejected','failed','unknown'"
)

_MIGRATION_1 = f"""
CREATE TABLE orders (
    local_id          TEXT PRIMARY KEY NOT NULL,
    correlation_id    TEXT,
    exchange_order_id TEXT UNIQUE,
    symbol            TEXT NOT NULL,
    side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price             TEXT NOT NULL,
    qty               TEXT NOT NULL,
    filled_qty        TEXT NOT NULL DEFAULT '0',
    state             TEXT NOT NULL CHECK (state IN ({_STATES})),
    layer             INTEGER NOT NULL,
    signed_tx         TEXT,
    created_ms        INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL
);
CREATE INDEX orders_by_state ON orders (state);

CREATE TABLE order_events (
    id         INTEGER PRIMARY KEY,
    local_id   TEXT NOT NULL REFERENCES orders (local_id),
    ts_ms      INTEGER NOT NULL,
    event      TEXT NOT NULL,
    from_state TEXT CHECK (from_state IN ({_STATES})),
    to_state   TEXT NOT NULL CHECK (to_state IN ({_STATES})),
    detail     TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(detail))
);
CREATE INDEX order_events_by_order ON order_events (local_id, id);
CREATE TRIGGER order_events_append_only_update BEFORE UPDATE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
CREATE TRIGGER order_events_append_only_delete BEFORE DELETE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;

CREATE TABLE fills (
    trade_id          TEXT PRIMARY KEY NOT NULL,
    exchange_order_id TEXT NOT NULL,
    local_id          TEXT REFERENCES orders (local_id),
    side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty               TEXT NOT NULL,
    price             TEXT NOT NULL,
    fee               TEXT NOT NULL,
    fee_asset         TEXT NOT NULL,
    ts_ms             INTEGER NOT NULL,
    quarantined       INTEGER NOT NULL DEFAULT 0 CHECK (quarantined IN (0, 1)),
    reason            TEXT
);
CREATE INDEX fills_by_time ON fills (ts_ms);
CREATE INDEX fills_by_order ON fills (local_id);

CREATE TABLE balance_snapshots (
    id     INTEGER PRIMARY KEY,
    ts_ms  INTEGER NOT NULL,
    asset  TEXT NOT NULL,
    free   TEXT NOT NULL,
    locked TEXT NOT NULL
);
CREATE INDEX balance_snapshots_by_time ON balance_snapshots (ts_ms);

CREATE TABLE risk_events (
    id     INTEGER PRIMARY KEY,
    ts_ms  INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE kv (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
"""

_MIGRATION_2 = """
ALTER TABLE risk_events ADD COLUMN amount TEXT;
CREATE INDEX risk_events_by_kind ON risk_events (kind, id);

CREATE TABLE day_marks (
    day_start_ms INTEGER PRIMARY KEY NOT NULL,
    ts_ms        INTEGER NOT NULL,
    mid          TEXT NOT NULL
);
"""
"""Risk state that outlives a restart (SPEC §6): `risk_events.amount` carries a figure that
belongs to the event (a session's position baseline, a resume's PnL baseline), and
`day_marks` the mid at which each UTC day's carried position is revalued."""

_MIGRATION_3 = """
CREATE TABLE day_totals (
    day_start_ms  INTEGER PRIMARY KEY NOT NULL,
    fills         INTEGER NOT NULL,
    bought        TEXT NOT NULL,
    sold          TEXT NOT NULL,
    bought_usdm   TEXT NOT NULL,
    sold_usdm     TEXT NOT NULL,
    fees_usdm     TEXT NOT NULL,
    fees_ada      TEXT NOT NULL,
    fees_ada_usdm TEXT NOT NULL
);
"""
"""Each UTC day's running fill totals (`FillTotals`), moved by every counted fill in its
own transaction: a risk check reads one row instead of the day's fills."""

_MIGRATION_4 = """
CREATE TABLE shadow_decisions (
    id     INTEGER PRIMARY KEY,
    ts_ms  INTEGER NOT NULL,
    kind   TEXT NOT NULL CHECK (kind IN ('ladder', 'place', 'cancel')),
    side   TEXT CHECK (side IN ('buy', 'sell')),
    price  TEXT,
    qty    TEXT,
    layer  INTEGER,
    reason TEXT,
    detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
);
CREATE INDEX shadow_decisions_by_time ON shadow_decisions (ts_ms);
"""
"""Shadow mode's record (SPEC §14): every ladder it would quote and every place and cancel
it would send, kept apart from the orders table so nothing imagined can pass for real."""

_MIGRATION_5 = """
CREATE TABLE fill_markouts (
    trade_id    TEXT NOT NULL REFERENCES fills (trade_id),
    horizon_s   INTEGER NOT NULL,
    mid_at_fill TEXT NOT NULL,
    mid         TEXT NOT NULL,
    markout_bps TEXT NOT NULL,
    measured_ms INTEGER NOT NULL,
    PRIMARY KEY (trade_id, horizon_s)
);
CREATE INDEX fill_markouts_by_time ON fill_markouts (measured_ms);

CREATE TABLE guard_events (
    id        INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    side      TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    extra_bps TEXT NOT NULL,
    paused    INTEGER NOT NULL CHECK (paused IN (0, 1)),
    reason    TEXT NOT NULL
);
CREATE INDEX guard_events_by_side ON guard_events (side, kind, id);
"""
"""The quote guard (SPEC §15, issue 14): each fill's markouts as they are read (+1 s, +10 s
against the Binance mid, in bps), and every change the guard made to a side, with the side's
state after it. A restart rebuilds the guard from both (`ddmm.quoting.guard.rebuild`)."""

_MIGRATION_6 = """
CREATE TABLE hedge_intents (
    client_order_id   TEXT PRIMARY KEY NOT NULL,
    symbol            TEXT NOT NULL,
    side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty               TEXT NOT NULL,
    limit_price       TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'done', 'void')),
    executed_qty      TEXT,
    exchange_order_id INTEGER,
    reason            TEXT,
    created_ms        INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL
);
CREATE INDEX hedge_intents_by_state ON hedge_intents (state);

CREATE TABLE hedge_items (
    item_id    TEXT PRIMARY KEY NOT NULL,
    side       TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty        TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    intent_id  TEXT REFERENCES hedge_intents (client_order_id)
);
CREATE INDEX hedge_items_by_intent ON hedge_items (intent_id);

CREATE TABLE binance_fills (
    trade_id          TEXT PRIMARY KEY NOT NULL,
    exchange_order_id TEXT NOT NULL,
    client_order_id   TEXT NOT NULL REFERENCES hedge_intents (client_order_id),
    side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty               TEXT NOT NULL,
    price             TEXT NOT NULL,
    fee               TEXT NOT NULL,
    fee_asset         TEXT NOT NULL,
    ts_ms             INTEGER NOT NULL
);
CREATE INDEX binance_fills_by_time ON binance_fills (ts_ms);

CREATE TABLE hedge_day_totals (
    day_start_ms  INTEGER PRIMARY KEY NOT NULL,
    fills         INTEGER NOT NULL,
    bought        TEXT NOT NULL,
    sold          TEXT NOT NULL,
    bought_usdm   TEXT NOT NULL,
    sold_usdm     TEXT NOT NULL,
    fees_usdm     TEXT NOT NULL,
    fees_ada      TEXT NOT NULL,
    fees_ada_usdm TEXT NOT NULL
);
"""
"""Hedging on Binance (SPEC §16, issue 15). `hedge_items` are the amounts to offset: each
counted DeltaDeFi fill (by trade id) and each shortfall a partly executed hedge left
(`<client id>:rest`); `intent_id` names the one hedge that covers an item, so no item is
ever covered twice. A `hedge_intents` row is written before its order is sent and is
`pending` until Binance's answer is settled: `done` with what it executed, or `void`
(Binance certainly did not execute it; its items are free again). `binance_fills` are
the hedges' executions, once each by Binance's trade id; `hedge_day_totals` their running
totals per UTC day (as `day_totals` for DeltaDeFi's), moved in the same transaction, so
a risk check reads a row per day instead of every hedge."""

_MIGRATION_7 = """
CREATE TABLE reference_marks (
    ts_ms   INTEGER PRIMARY KEY NOT NULL,
    bid     TEXT NOT NULL,
    ask     TEXT NOT NULL,
    bid_qty TEXT NOT NULL,
    ask_qty TEXT NOT NULL
);
"""
"""The reference book a session traded against (SPEC §17, issue 16): the Binance best bid
and ask with their sizes, once a second while the feed is fresh, so that `ddmm report`
can score any paper or live session as a backtest is scored. No row while the feed is
stale: a gap is a stale spell."""

MIGRATIONS: tuple[str, ...] = (_MIGRATION_1, _MIGRATION_2, _MIGRATION_3, _MIGRATION_4,
                               _MIGRATION_5, _MIGRATION_6, _MIGRATION_7)
"""Migration N is MIGRATIONS[N - 1]. Append only: a released migration never changes."""


def connect(path: str, *, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open `path` in autocommit mode (we issue BEGIN/COMMIT ourselves) with WAL, the chosen
    `synchronous` level and foreign keys on. `check_same_thread` stays on: the connection
    must never leave the thread that opened it."""
    if synchronous not in SYNCHRONOUS_MODES:
        raise PersistenceError(f"synchronous must be one of {SYNCHRONOUS_MODES}")
    if busy_timeout_ms < 0:
        raise PersistenceError("busy_timeout_ms must be >= 0")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise PersistenceError(f"could not enable WAL (journal_mode={mode})")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (version INTEGER PRIMARY KEY NOT NULL, applied_ms INTEGER NOT NULL)"
    )
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to `len(MIGRATIONS)` and return the version reached.

    A database newer than this code is refused rather than used half-understood.
    """
    current = schema_version(conn)
    if current > len(MIGRATIONS):
        raise PersistenceError(
            f"database schema version {current} is newer than this code ({len(MIGRATIONS)})"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        script = MIGRATIONS[version - 1]
        applied_ms = time.time_ns() // 1_000_000
        # executescript commits anything open first, so the whole migration, including its
        # version row, is wrapped in one explicit transaction.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                "INSERT INTO schema_version (version, applied_ms)"
                f" VALUES ({version}, {applied_ms});\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
