"""Tick → intents latency (SPEC §11): parse → ladder → diff, every tick, no throttling.

Replays the recorded Binance file (rescaled to ADA) through the feed parser, the ladder
builder and the requote diff against the previous live set (the previous tick's intents
assumed applied). Risk checks belong to the OMS and are not included here.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal

from bench._common import write_result
from bench._replay import apply, recorded_frames
from ddmm.config.schema import QuoteConfig, RequoteConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory, LiveOrder
from ddmm.feeds.parse import parse_frame
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config, requote_policy_from_config
from ddmm.quoting.requote import diff

MAX_FRAME_BYTES = 1_048_576


def main() -> None:
    frames = recorded_frames()
    quote = QuoteConfig()
    params = ladder_params_from_config(quote)
    policy = requote_policy_from_config(RequoteConfig())
    inventory = Inventory(ada_free=Decimal(20000), ada_locked=Decimal(0),
                          usdm_free=Decimal(9000), usdm_locked=Decimal(0))
    live: dict[str, LiveOrder] = {}
    seq = [0]
    samples: list[int] = []
    intents_total = 0
    clock = time.perf_counter_ns
    started = clock()
    for recv_ns, frame in frames:
        t0 = clock()
        tick = parse_frame(frame, recv_ns, MAX_FRAME_BYTES)
        if not isinstance(tick, BookTick):
            continue
        ladder = build_ladder(tick, inventory, params)
        intents = diff(ladder, list(live.values()), policy, recv_ns // 1_000_000)
        samples.append(clock() - t0)
        intents_total += len(intents)
        apply(live, intents, recv_ns // 1_000_000, seq)
    elapsed_s = (clock() - started) / 1e9
    samples.sort()
    write_result(
        "tick_to_intent",
        {
            "p50_us": round(statistics.median(samples) / 1000, 2),
            "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 2),
            "max_us": round(samples[-1] / 1000, 2),
            "ticks_per_s": round(len(samples) / sum(samples) * 1e9),
            "ticks": len(samples),
            "intents": intents_total,
            "wall_s_incl_apply": round(elapsed_s, 3),
        },
        {"layers": quote.num_layers, "parser": "ddmm.feeds.parse.parse_frame",
         "data": "data/binance-spot/ethusdt_20240808.gz rescaled to 0.45"},
    )


if __name__ == "__main__":
    main()
