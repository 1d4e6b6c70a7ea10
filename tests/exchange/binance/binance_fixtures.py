"""Keys and bodies shared by the Binance client tests (the protocol doc's §2.7 keys)."""

from __future__ import annotations

from typing import Any

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ED_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u
-----END PRIVATE KEY-----
"""
ED_PUBLIC_HEX = "19420abfd752a565c15625e9da6eaf0086fc40c14960183214442c14996a800d"


def exchange_info(notional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An exchangeInfo body listing BTCUSDT (no filters) and ADAUSDT (§3.2 shapes)."""
    return {
        "timezone": "UTC", "serverTime": 1, "rateLimits": [],
        "symbols": [
            {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "filters": []},
            {
                "symbol": "ADAUSDT", "status": "TRADING", "baseAsset": "ADA", "quoteAsset": "USDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.00010000", "maxPrice": "1000.00000000", "tickSize": "0.00010000"},
                    {"filterType": "LOT_SIZE", "minQty": "0.10000000", "maxQty": "900000.00000000", "stepSize": "0.10000000"},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": "1", "stepSize": "0"},
                    notional or {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                ],
            },
        ],
    }
