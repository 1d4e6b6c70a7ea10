"""Persistence throughput and commit latency with group commit (SPEC §7, §11).

`WRITERS` concurrent Trio tasks each walk `ORDERS_PER_WRITER` orders through the placement
path: `insert_order` (new) then `update_order` to built, submitting and open, awaiting
each write's commit before the next, as the OMS does. An order event is one such awaited
call (each writes its row and its audit row). Commit latency is measured per call, from
the call to its return, on the Trio clock, so it includes the group-commit wait and any
WAL checkpoint the load forces. Each round uses a fresh file in a temporary directory; the
metrics are the median over `ROUNDS` rounds with `synchronous=NORMAL` (the default), and
the `*_full` ones one round with `synchronous=FULL` (an fsync per commit) for scale.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from ddmm.config.schema import PersistenceConfig, Synchronous
from ddmm.domain.orders import OrderState
from ddmm.persistence import OrderRecord, Persistence, open_persistence

WRITERS = 32
ORDERS_PER_WRITER = 120
ROUNDS = 3
GROUP_COMMIT_MS = 2.0
STEPS = ((OrderState.BUILT, "built"), (OrderState.SUBMITTING, "submit_sent"),
         (OrderState.OPEN, "opened"))


async def _writer(db: Persistence, writer: int, latencies_s: list[float]) -> None:
    for n in range(ORDERS_PER_WRITER):
        local_id = f"w{writer}-{n}"
        started = trio.current_time()
        await db.insert_order(OrderRecord(
            local_id=local_id, symbol="ADAUSDM", side="buy" if n % 2 else "sell",
            price=Decimal("0.5123"), qty=Decimal("150"), layer=n % 10, state=OrderState.NEW,
            created_ms=n, updated_ms=n,
        ))
        latencies_s.append(trio.current_time() - started)
        for state, event in STEPS:
            started = trio.current_time()
            await db.update_order(
                local_id, state=state, event=event, ts_ms=n + 1,
                exchange_order_id=f"x-{local_id}" if state is OrderState.BUILT else None,
                signed_tx="84a400d9010281825820" if state is OrderState.BUILT else None,
            )
            latencies_s.append(trio.current_time() - started)


async def measure(synchronous: Synchronous) -> dict[str, float]:
    """One run on a fresh database; returns events/s, p50/p99/max commit ms, batch size."""
    latencies_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = PersistenceConfig(path=Path(tmp) / "bench.db", synchronous=synchronous,
                                   group_commit_ms=GROUP_COMMIT_MS)
        async with open_persistence(config) as db:
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for writer in range(WRITERS):
                    nursery.start_soon(_writer, db, writer, latencies_s)
            elapsed_s = time.perf_counter() - started
            stats = db.stats
    ordered = sorted(latencies_s)
    return {
        "events_per_s": round(len(ordered) / elapsed_s),
        "p50_commit_ms": round(_quantile(ordered, 0.50) * 1000, 3),
        "p99_commit_ms": round(_quantile(ordered, 0.99) * 1000, 3),
        "max_commit_ms": round(ordered[-1] * 1000, 3),
        "mean_batch": round(stats.requests / stats.commits, 1),
    }


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    # Imported here so that `python bench/persistence.py` can first put the repo on the path.
    from bench._common import write_result

    rounds = [trio.run(measure, "NORMAL") for _ in range(ROUNDS)]
    full = trio.run(measure, "FULL")
    metrics: dict[str, Any] = {key: statistics.median(r[key] for r in rounds)
                               for key in rounds[0]}
    metrics.update({f"{key}_full": value for key, value in full.items()})
    write_result("persistence", metrics, {
        "writers": WRITERS, "orders_per_writer": ORDERS_PER_WRITER, "rounds": ROUNDS,
        "events_per_order": 1 + len(STEPS), "group_commit_ms": GROUP_COMMIT_MS,
        "synchronous": "NORMAL (metrics), FULL (*_full)", "tmp_dir": tempfile.gettempdir(),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    })


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
