"""Churn (SPEC §5, §11, §12): ddmm's requote policy vs naive cancel-all-and-replace.

The recorded Binance file (rescaled to ADA) drives the same ladder for both policies; an
idealised exchange applies every intent at once, but only as many per moment as a token
bucket (capacity 5, 5 tokens/s) allows; what does not fit is recomputed (ddmm) or waits in
its queue (naive). Naive uses one cancel-all (one token) and then places every level, inner
first, on every change of the target. Metrics, time-weighted over the replay:
quote uptime = share of time with both sides live and each best price within 2·s_base bps
of the target's; tracking error = mean |our best − target best| in bps over both sides,
over the time each side is live.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import attrs

from bench._common import write_result
from bench._replay import apply, recorded_frames
from ddmm.config.schema import QuoteConfig, RequoteConfig
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Intent, Inventory, Ladder, LiveOrder, PlaceIntent, QuoteLevel
from ddmm.feeds.parse import parse_frame
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config, requote_policy_from_config
from ddmm.quoting.requote import RequoteMark, diff, requote_due

CAPACITY = 5.0
REFILL_PER_S = 5.0
BPS = Decimal(10_000)


@attrs.define
class Score:
    """Time-weighted quality of one policy's live book against the target."""

    actions: int = 0
    up_s: float = 0.0
    err_bps_s: float = 0.0
    live_side_s: float = 0.0
    tokens: float = CAPACITY

    def observe(self, live: dict[str, LiveOrder], target: Ladder, dt: float, band: Decimal) -> None:
        bids = [o.price for o in live.values() if o.side == "buy"]
        asks = [o.price for o in live.values() if o.side == "sell"]
        errors = []
        if bids and target.bids:
            errors.append(abs(max(bids) - target.bids[0].price) / target.bids[0].price * BPS)
        if asks and target.asks:
            errors.append(abs(min(asks) - target.asks[0].price) / target.asks[0].price * BPS)
        for err in errors:
            self.err_bps_s += float(err) * dt
            self.live_side_s += dt
        if len(errors) == 2 and max(errors) <= band:
            self.up_s += dt

    def spend(self, intents: list[Intent]) -> list[Intent]:
        n = min(len(intents), int(self.tokens))
        self.tokens -= n
        self.actions += n
        return intents[:n]


def _naive_queue(target: Ladder) -> deque[Intent | None]:
    """None stands for the single cancel-all call."""
    places: list[Intent | None] = []
    for bid, ask in zip(target.bids, target.asks, strict=False):
        places += [_place(bid), _place(ask)]
    longer = target.bids if len(target.bids) > len(target.asks) else target.asks
    places += [_place(lv) for lv in longer[min(len(target.bids), len(target.asks)):]]
    return deque([None, *places])


def _place(level: QuoteLevel) -> PlaceIntent:
    return PlaceIntent(side=level.side, price=level.price, qty=level.qty, layer=level.layer)


def main() -> None:
    frames = recorded_frames()
    quote, requote = QuoteConfig(), RequoteConfig()
    params = ladder_params_from_config(quote)
    policy = requote_policy_from_config(requote)
    inventory = Inventory(ada_free=Decimal(20000), ada_locked=Decimal(0),
                          usdm_free=Decimal(9000), usdm_locked=Decimal(0))
    band = 2 * quote.s_base_bps
    ddmm, naive = Score(), Score()
    live_d: dict[str, LiveOrder] = {}
    live_n: dict[str, LiveOrder] = {}
    seq = [0]
    mark: RequoteMark | None = None
    queue: deque[Intent | None] = deque()
    last_naive_target: Ladder | None = None
    target: Ladder | None = None
    prev_ns = frames[0][0]
    for recv_ns, frame in frames:
        tick = parse_frame(frame, recv_ns, 1_048_576)
        if not isinstance(tick, BookTick):
            continue
        dt = (recv_ns - prev_ns) / 1e9
        prev_ns = recv_ns
        if target is not None:
            ddmm.observe(live_d, target, dt, band)
            naive.observe(live_n, target, dt, band)
        for score in (ddmm, naive):
            score.tokens = min(CAPACITY, score.tokens + dt * REFILL_PER_S)
        now_ms = recv_ns // 1_000_000
        target = build_ladder(tick, inventory, params)
        if requote_due(mark, target, policy, now_ms):
            mark = RequoteMark(ladder=target, at_ms=now_ms)
        assert mark is not None
        intents = diff(mark.ladder, list(live_d.values()), policy, now_ms)
        apply(live_d, ddmm.spend(intents), now_ms, seq)
        if last_naive_target is None or (target.bids, target.asks) != (
            last_naive_target.bids, last_naive_target.asks
        ):
            queue = _naive_queue(target)
            last_naive_target = target
        _run_naive(queue, naive, live_n, now_ms, seq)
    duration_min = (frames[-1][0] - frames[0][0]) / 60e9
    duration_s = duration_min * 60
    metrics = {
        "quote_uptime_ddmm": round(ddmm.up_s / duration_s, 4),
        "quote_uptime_naive": round(naive.up_s / duration_s, 4),
        "actions_per_min_ddmm": round(ddmm.actions / duration_min, 1),
        "actions_per_min_naive": round(naive.actions / duration_min, 1),
        "ratio": round(naive.actions / max(ddmm.actions, 1), 2),
        "tracking_error_bps_ddmm": round(ddmm.err_bps_s / max(ddmm.live_side_s, 1e-9), 3),
        "tracking_error_bps_naive": round(naive.err_bps_s / max(naive.live_side_s, 1e-9), 3),
        "replay_minutes": round(duration_min, 2),
    }
    write_result("churn", metrics, {
        "bucket_capacity": CAPACITY, "refill_per_s": REFILL_PER_S,
        "price_tolerance_bps": str(policy.price_tolerance_bps),
        "outer_price_tolerance_bps": str(policy.outer_price_tolerance_bps),
        "size_tolerance": str(policy.size_tolerance), "min_requote_ms": policy.min_requote_ms,
        "naive_cancel_all_cost": 1,
        "data": "data/binance-spot/ethusdt_20240808.gz rescaled to 0.45",
    })


def _run_naive(queue: deque[Intent | None], score: Score, live: dict[str, LiveOrder],
               now_ms: int, seq: list[int]) -> None:
    while queue and score.tokens >= 1:
        score.tokens -= 1
        score.actions += 1
        item = queue.popleft()
        if item is None:
            live.clear()
        else:
            apply(live, [item], now_ms, seq)


if __name__ == "__main__":
    main()
