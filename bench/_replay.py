"""Recorded ticks for the quoting benchmarks: the repo's Binance recording at an ADA level."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ddmm.domain.quotes import Intent, LiveOrder, PlaceIntent
from ddmm.feeds.sources import load_recording, payload, rescale

DATA = Path(__file__).resolve().parents[1] / "data/binance-spot/ethusdt_20240808.gz"
ADA_LEVEL = Decimal("0.45")


def recorded_frames() -> list[tuple[int, str]]:
    """(recv_ns, raw ADAUSDT bookTicker frame), rescaled with the feed's own `rescale`."""
    ticks = rescale(load_recording(DATA), ADA_LEVEL)
    return [(t.recv_ns, payload(t, "ADAUSDT", n + 1)) for n, t in enumerate(ticks)]


def apply(live: dict[str, LiveOrder], intents: list[Intent], now_ms: int, seq: list[int]) -> None:
    """The idealised exchange: every intent takes effect at once."""
    for intent in intents:
        if isinstance(intent, PlaceIntent):
            seq[0] += 1
            oid = f"o{seq[0]}"
            live[oid] = LiveOrder(order_id=oid, side=intent.side, price=intent.price,
                                  remaining_qty=intent.qty, layer=intent.layer,
                                  placed_at_ms=now_ms)
        else:
            live.pop(intent.order_id, None)
