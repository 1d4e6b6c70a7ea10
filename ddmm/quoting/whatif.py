"""What-if quoting for the CLI: the ladder the bot would quote for a given book and balances.

`python -m ddmm quote --bid B --ask A --ada X --usdm Y` prints this; it goes through the same
`ladder_params_from_config` and `build_ladder` as the running bot, so what it shows is what
the bot would send.
"""

from __future__ import annotations

from decimal import Decimal

from ddmm.config.schema import Config
from ddmm.domain.market import ADAUSDM, BookTick, MarketRules
from ddmm.domain.quotes import Inventory, QuoteLevel
from ddmm.errors import InvalidNumber
from ddmm.quoting.ladder import build_ladder
from ddmm.quoting.params import ladder_params_from_config


def what_if(
    *,
    bid: Decimal,
    ask: Decimal,
    ada: Decimal,
    usdm: Decimal,
    config: Config,
    rules: MarketRules = ADAUSDM,
) -> dict[str, object]:
    """{"gamma": str, "bids": [{"price", "qty"}…], "asks": […]}, layer 0 first.

    `ada` and `usdm` are total balances (free + locked by our own orders); a crossed or
    non-positive book raises InvalidNumber. Decimal strings
    throughout, so the output is exact and JSON-ready.
    """
    if bid <= 0 or ask <= bid:
        raise InvalidNumber(f"bid/ask: need 0 < bid < ask, got bid={bid} ask={ask}")
    book = BookTick(
        symbol=config.feed.symbol, update_id=0, bid=bid, bid_qty=Decimal(0),
        ask=ask, ask_qty=Decimal(0), recv_ns=0,
    )
    inventory = Inventory(
        ada_free=ada, ada_locked=Decimal(0), usdm_free=usdm, usdm_locked=Decimal(0)
    )
    ladder = build_ladder(book, inventory, ladder_params_from_config(config.quote, rules))
    return {
        "gamma": str(ladder.gamma),
        "bids": [_level(level) for level in ladder.bids],
        "asks": [_level(level) for level in ladder.asks],
    }


def _level(level: QuoteLevel) -> dict[str, str]:
    return {"price": str(level.price), "qty": str(level.qty)}
