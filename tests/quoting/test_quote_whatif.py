"""What-if CLI function: same params and builder as the bot, JSON-ready strings."""

from __future__ import annotations

import json
import math
from decimal import Decimal as D
from fractions import Fraction as F

import pytest

from ddmm.config.schema import Config, QuoteConfig, SkewConfig
from ddmm.errors import InvalidNumber
from ddmm.quoting.whatif import what_if


def test_what_if_default_config_is_json_and_starts_at_12_bps() -> None:
    out = what_if(bid=D("0.4512"), ask=D("0.4513"), ada=D(20000), usdm=D(9000), config=Config())
    json.dumps(out)
    assert len(out["bids"]) == 10 and len(out["asks"]) == 10  # type: ignore[arg-type]
    mid = F("0.45125")
    gamma = (F(9000) - 20000 * mid) / (F(9000) + 20000 * mid)
    assert out["gamma"] == str((D(gamma.numerator) / D(gamma.denominator)).quantize(D("0.000001")))
    s_bid = max(min(max(8 - 10 * gamma, 2), 50), 12)
    expected = math.floor(F("0.4512") * (1 - s_bid / 10_000) * 10_000)
    assert out["bids"][0]["price"] == str(D(expected) / 10_000)  # type: ignore[index]


def test_what_if_follows_config_overrides() -> None:
    config = Config(quote=QuoteConfig(num_layers=3, skew=SkewConfig(enabled=False)))
    out = what_if(bid=D("0.4512"), ask=D("0.4513"), ada=D(20000), usdm=D(9000), config=config)
    assert out["gamma"] == "0.000000"
    assert [lv["price"] for lv in out["asks"]] == ["0.4519", "0.4523", "0.4528"]  # type: ignore[index, union-attr]


def test_what_if_refuses_a_crossed_book() -> None:
    with pytest.raises(InvalidNumber):
        what_if(bid=D("0.46"), ask=D("0.45"), ada=D(1), usdm=D(1), config=Config())
