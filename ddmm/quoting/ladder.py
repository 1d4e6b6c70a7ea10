"""The ladder builder (SPEC §4): Binance touch + inventory + params → target ladder.

Arithmetic choice: exact. Anchors, γ, spreads and multipliers are exact rationals (integer
pairs, see `skew`); per layer everything is integer arithmetic in ticks and quantity
steps (`//` floors exactly), and `Decimal` appears only when the result is emitted. So the
floor of an exact integer is that integer (SPEC §4 example A: 340, not 339) without an
epsilon that could round a genuinely smaller value up.

Anchors (SPEC §4, §15): touch (Pb = B, Pa = A), mid (both M = (B+A)/2) or microprice (both
P = (B·Qa + A·Qb)/(Qa + Qb), the touch weighted by the opposite side's size: a heavy bid
pulls the fair price toward the ask). B ≤ P ≤ A, so the never-cross limits hold unchanged.

Volatility (SPEC §15): `spread_scale` multiplies s_base before anything else of the spread
formula, so the skew, the s_min/s_max clamp and the min_edge floor apply to the scaled base:
s_bid = max(clamp(s_base·scale − λ·γ, s_min, s_max), min_edge) (s_ask with +λ·γ). The layer
step is not scaled. With scale 1 the arithmetic is exactly that of the static ladder.

Quote guard (SPEC §15, issue 14): `guard` adds its `extra_bps` to one side's spread after
the whole formula, min_edge included — s_bid + extra_bid — so a widening of 10 bps moves the
side 10 bps whatever the floor was (and may take it past s_max, which bounds the skew, not
the guard); a `paused` side gets no levels, and the other side is still kept off the Binance
touch. `NO_GUARD` leaves the arithmetic untouched.

Order of work: prices from the formula, then the never-cross fixes (which only move a
price away from the market), then sizes from the final prices (Q_i = N_i / price_i), then
the exchange minimum, then the balance caps.
"""

from __future__ import annotations

from decimal import Decimal

from ddmm.domain.market import BookTick
from ddmm.domain.quotes import NO_GUARD, Inventory, Ladder, QuoteGuard, QuoteLevel, Side, SideGuard
from ddmm.quoting.params import LadderParams
from ddmm.quoting.skew import (
    ONE,
    ZERO,
    Ratio,
    add_product,
    as_decimal,
    compute_skew,
    inventory_gamma,
)
from ddmm.quoting.vol import layers_at_scale

_BPS = 10_000
_GAMMA_PLACES = Decimal("0.000001")

# (layer, price in ticks, size in quantity steps)
_Rung = tuple[int, int, int]


def build_ladder(
    book: BookTick, inventory: Inventory, params: LadderParams, *, spread_scale: Ratio = ONE,
    guard: QuoteGuard = NO_GUARD,
) -> Ladder:
    """Build the target ladder; `spread_scale` (≥ 1, the vol scale) multiplies s_base,
    `guard` widens or pauses a side.

    bid_i = floor_tick(Pb·(1 − (s_bid + i·step)/10⁴)), ask_i = ceil_tick(Pa·(1 + (s_ask +
    i·step)/10⁴)), qty = floor_step(Q_i·m). Guarantees: prices on the tick grid and > 0,
    bids strictly decreasing, asks strictly increasing, every bid < every ask, bid_0 < the
    Binance ask, ask_0 > the Binance bid; sizes on the step grid and ≥ the exchange minimum;
    bid notional ≤ usdm·(1 − reserve), ask quantity ≤ ada·(1 − reserve).
    """
    bid, ask = book.bid.as_integer_ratio(), book.ask.as_integer_ratio()
    mid = (bid[0] * ask[1] + ask[0] * bid[1], 2 * bid[1] * ask[1])
    ada, usdm = inventory.ada_total.as_integer_ratio(), inventory.usdm_total.as_integer_ratio()
    gamma = ZERO
    if params.skew_enabled:
        gamma = inventory_gamma(ada, usdm, mid, params.skew.gamma_max)
    skew = compute_skew(gamma, params.skew)
    slack_bps = Decimal(0)
    if spread_scale != ONE:
        s_base = params.skew.s_base_bps
        static = skew
        skew = compute_skew(gamma, params.skew._replace(
            s_base_bps=(s_base[0] * spread_scale[0], s_base[1] * spread_scale[1])))
        slack_bps = min(as_decimal(add_product(skew.s_bid_bps, ONE, static.s_bid_bps, -1)),
                        as_decimal(add_product(skew.s_ask_bps, ONE, static.s_ask_bps, -1)))
    pb, pa = _anchors(book, bid, ask, mid, params)
    tn, td = params.tick
    n, step = layers_at_scale(params.num_layers, spread_scale, params.vol), params.step_bps_ratio
    above_bid = (bid[0] * td) // (bid[1] * tn) + 1
    ask_ticks = [] if guard.sell.paused else _monotone(
        _layer_ticks((pa[0] * td, pa[1] * tn), _guarded(skew.s_ask_bps, guard.sell), step, n,
                     up=True),
        above_bid, up=True,
    )
    below_ask = -((-ask[0] * td) // (ask[1] * tn)) - 1
    if ask_ticks:
        below_ask = min(below_ask, ask_ticks[0] - 1)
    bid_ticks = [] if guard.buy.paused else _monotone(
        _layer_ticks((pb[0] * td, pb[1] * tn), _guarded(skew.s_bid_bps, guard.buy), step, n,
                     up=False),
        below_ask, up=False,
    )
    kn, kd = params.bid_budget_per_usdm
    bids = _cap(_sized(bid_ticks, skew.m_bid, params), usdm[0] * kn // (usdm[1] * kd), True,
                params)
    kn, kd = params.ask_budget_per_ada
    asks = _cap(_sized(ask_ticks, skew.m_ask, params), ada[0] * kn // (ada[1] * kd), False,
                params)
    return Ladder(
        bids=_levels("buy", bids, params),
        asks=_levels("sell", asks, params),
        gamma=as_decimal(gamma).quantize(_GAMMA_PLACES),
        ref_bid=book.bid,
        ref_ask=book.ask,
        spread_scale=ONE if spread_scale[0] == spread_scale[1] else spread_scale,
        fast_slack_bps=slack_bps,
    )


def _guarded(spread_bps: Ratio, side: SideGuard) -> Ratio:
    """The side's spread plus the guard's widening, exact."""
    if not side.extra_bps:
        return spread_bps
    return add_product(spread_bps, ONE, side.extra_bps.as_integer_ratio(), 1)


def _anchors(
    book: BookTick, bid: Ratio, ask: Ratio, mid: Ratio, params: LadderParams
) -> tuple[Ratio, Ratio]:
    """(Pb, Pa) for the configured anchor."""
    if params.anchor == "touch":
        return bid, ask
    if params.anchor == "microprice":
        fair = microprice(bid, ask, book.bid_qty, book.ask_qty) or mid
        return fair, fair
    return mid, mid


def microprice(bid: Ratio, ask: Ratio, bid_qty: Decimal, ask_qty: Decimal) -> Ratio | None:
    """P = (B·Qa + A·Qb)/(Qa + Qb), exact; None when a size is not positive.

    B ≤ P ≤ A, and P = M when Qb = Qa. An empty side says nothing about the pressure, so
    the caller falls back to the mid rather than anchoring on the other touch.
    """
    if bid_qty <= 0 or ask_qty <= 0:
        return None
    (b0, b1), (a0, a1) = bid, ask
    (qb0, qb1), (qa0, qa1) = bid_qty.as_integer_ratio(), ask_qty.as_integer_ratio()
    return (b0 * a1 * qa0 * qb1 + a0 * b1 * qb0 * qa1, b1 * a1 * (qa0 * qb1 + qb0 * qa1))


def _layer_ticks(
    anchor_ticks: Ratio, spread_bps: Ratio, step_bps: Ratio, n: int, *, up: bool
) -> list[int]:
    """Layer prices in ticks, floored (bids) or ceiled (asks), over one common denominator.

    price_i / tick = anchor·(10⁴·s₁ ± s₀)/(10⁴·s₁) ± i·anchor·step/10⁴, put over
    anchor₁·10⁴·s₁·step₁ so each layer costs one integer floor division.
    """
    sign = 1 if up else -1
    (a0, a1), (s0, s1), (t0, t1) = anchor_ticks, spread_bps, step_bps
    den = a1 * _BPS * s1 * t1
    start = a0 * (_BPS * s1 + sign * s0) * t1
    inc = sign * a0 * t0 * s1
    if up:
        return [-((-start - i * inc) // den) for i in range(n)]
    return [(start + i * inc) // den for i in range(n)]


def _monotone(ticks: list[int], limit: int, *, up: bool) -> list[int]:
    """Push each price strictly away from the market past `limit` and the previous layer.

    Asks: ≥ limit and strictly increasing; bids: ≤ limit, strictly decreasing, and cut at
    the first non-positive price. Only ever moves a price away from the touch.
    """
    out: list[int] = []
    if up:
        floor = limit
        for price in ticks:
            price = max(price, floor)
            out.append(price)
            floor = price + 1
        return out
    ceiling = limit
    for price in ticks:
        price = min(price, ceiling)
        if price <= 0:
            break
        out.append(price)
        ceiling = price - 1
    return out


def _sized(ticks: list[int], multiplier: Ratio, params: LadderParams) -> list[_Rung]:
    """Sizes in steps: floor(Q_i·m / step); rungs below the exchange minimum are dropped."""
    mn, md = multiplier
    den = params.size_den * md
    per_price = params.size_unit == "usdm"
    min_units, min_notional = params.min_units, params.min_notional_units
    rungs: list[_Rung] = []
    for layer, price in enumerate(ticks):
        units = (params.size_num[layer] * mn) // (den * price if per_price else den)
        if units >= min_units and units * price >= min_notional:
            rungs.append((layer, price, units))
    return rungs


def _cap(rungs: list[_Rung], budget: int, is_bid: bool, params: LadderParams) -> list[_Rung]:
    """Keep the inner rungs that fit `budget`, shrink the next one to the rest, drop the others.

    The budget is in tick·step units of USDM for bids (notional) and in steps of ADA for
    asks (quantity). A shrunk rung below the exchange minimum is dropped too.
    """
    kept: list[_Rung] = []
    used = 0
    for layer, price, units in rungs:
        weight = price if is_bid else 1
        cost = units * weight
        if used + cost <= budget:
            kept.append((layer, price, units))
            used += cost
            continue
        shrunk = (budget - used) // weight
        if shrunk >= params.min_units and shrunk * price >= params.min_notional_units:
            kept.append((layer, price, shrunk))
        break
    return kept


def _levels(side: Side, rungs: list[_Rung], params: LadderParams) -> tuple[QuoteLevel, ...]:
    tick, step = params.rules.tick, params.rules.qty_step
    return tuple(
        QuoteLevel(side=side, layer=layer, price=Decimal(price) * tick, qty=Decimal(units) * step)
        for layer, price, units in rungs
    )
