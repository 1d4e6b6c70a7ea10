"""`fills.csv` of a backtest (SPEC §13): one row per counted fill, with its markouts.

Columns: ts_ms, time_utc (ISO-8601, milliseconds, "Z"), side, price, qty, fee, fee_asset,
local_id, exchange_order_id, trade_id, mid (the reference mid at the fill) and
markout_{1,10,60}s_bps (as `fill_quality.markout_bps` defines them; empty when the
reference ends before the horizon). Decimals are written in plain notation, markouts to 4 places,
lines end in "\\n": the same run gives the same bytes.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from ddmm.backtest.account_path import PricedFill, price_fills
from ddmm.backtest.fill_quality import markout_bps, reaches
from ddmm.backtest.metrics import counted_fills
from ddmm.backtest.timeline import ReferencePath, ReferencePoint
from ddmm.domain.market import ADAUSDM

CSV_HORIZONS_S = (1, 10, 60)
HEADER = ("ts_ms", "time_utc", "side", "price", "qty", "fee", "fee_asset", "local_id",
          "exchange_order_id", "trade_id", "mid",
          *(f"markout_{h}s_bps" for h in CSV_HORIZONS_S))


def write_fills_csv(path: Path, conn: sqlite3.Connection, reference: Iterable[ReferencePoint],
                    *, base_asset: str = ADAUSDM.base_asset, start_ms: int = 0,
                    end_ms: int = 2**63 - 1,
                    known_horizons_s: Collection[int] = CSV_HORIZONS_S) -> None:
    """Write every counted fill of `conn` within [start_ms, end_ms], oldest first, to
    `path`; markouts at horizons outside `known_horizons_s` stay empty (the reference
    does not hold the mid there)."""
    ref = ReferencePath(tuple(reference))
    fills = price_fills(counted_fills(conn, start_ms, end_ms), ref, base_asset)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(_row(f, ref, known_horizons_s) for f in fills)


def _row(priced: PricedFill, ref: ReferencePath, known: Collection[int]) -> tuple[str, ...]:
    f = priced.fill
    markouts = (f"{markout_bps(priced, ref.mid_at(f.ts_ms + h * 1000)):.4f}"
                if h in known and reaches(priced, ref, h) else "" for h in CSV_HORIZONS_S)
    return (str(f.ts_ms), iso_utc(f.ts_ms), f.side, _plain(f.price), _plain(f.qty),
            _plain(f.fee), f.fee_asset, f.local_id or "", f.exchange_order_id, f.trade_id,
            _plain(priced.mid), *markouts)


def _plain(value: Decimal) -> str:
    return format(value, "f")


def iso_utc(ts_ms: int) -> str:
    """2024-08-08T00:00:01.250Z"""
    seconds, millis = divmod(ts_ms, 1000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC) + timedelta(milliseconds=millis)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
