"""The simulator's JSON shapes (§3): orders in ACK, RESULT, FULL and query form, trades,
the account and exchangeInfo. Amounts are 8-decimal strings, ids and times integers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ddmm.sim.binance.config import BinanceSimConfig
from ddmm.sim.binance.engine import Order, SymbolStatus, Trade
from ddmm.sim.binance.numbers import fmt8

STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT")
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT")
_ZERO = "0.00000000"


def _common(order: Order, symbol: str) -> dict[str, Any]:
    return {"symbol": symbol, "orderId": order.order_id, "orderListId": -1,
            "clientOrderId": order.client_order_id}


def _result_fields(order: Order) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "price": fmt8(order.price), "origQty": fmt8(order.orig_qty),
        "executedQty": fmt8(order.executed_qty), "origQuoteOrderQty": _ZERO,
        "cummulativeQuoteQty": fmt8(order.cumulative_quote_qty), "status": order.status,
        "timeInForce": "IOC", "type": "LIMIT", "side": order.side,
        "workingTime": order.time_ms, "selfTradePreventionMode": order.stp_mode,
    }
    if order.expiry_reason is not None:
        fields["expiryReason"] = order.expiry_reason
    return fields


def fill_json(trade: Trade) -> dict[str, Any]:
    return {"price": fmt8(trade.price), "qty": fmt8(trade.qty),
            "commission": fmt8(trade.commission), "commissionAsset": trade.commission_asset,
            "tradeId": trade.trade_id}


def new_order_json(order: Order, symbol: str, resp_type: str) -> dict[str, Any]:
    """The `POST /api/v3/order` answer in `resp_type` (ACK, RESULT or FULL)."""
    body = {**_common(order, symbol), "transactTime": order.time_ms}
    if resp_type == "ACK":
        return body
    body.update(_result_fields(order))
    if resp_type == "FULL":
        body["fills"] = [fill_json(trade) for trade in order.trades]
    return body


def order_query_json(order: Order, symbol: str) -> dict[str, Any]:
    """`GET /api/v3/order` and `openOrders` items: RESULT fields with `time`, no fills."""
    return {**_common(order, symbol), **_result_fields(order), "stopPrice": _ZERO,
            "icebergQty": _ZERO, "time": order.time_ms, "updateTime": order.time_ms,
            "isWorking": True}


def trade_json(trade: Trade, symbol: str) -> dict[str, Any]:
    return {"symbol": symbol, "id": trade.trade_id, "orderId": trade.order_id,
            "orderListId": -1, "price": fmt8(trade.price), "qty": fmt8(trade.qty),
            "quoteQty": fmt8(trade.quote_qty), "commission": fmt8(trade.commission),
            "commissionAsset": trade.commission_asset, "time": trade.time_ms,
            "isBuyer": trade.side == "BUY", "isMaker": False, "isBestMatch": True}


def account_json(config: BinanceSimConfig, balances: dict[str, Decimal], now_ms: int,
                 omit_zero: bool) -> dict[str, Any]:
    maker, taker = config.maker_fee_bps, config.taker_fee_bps
    rows = [{"asset": asset, "free": fmt8(free), "locked": _ZERO}
            for asset, free in sorted(balances.items()) if free or not omit_zero]
    return {
        "makerCommission": int(maker), "takerCommission": int(taker),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": fmt8(maker / 10_000), "taker": fmt8(taker / 10_000),
                            "buyer": _ZERO, "seller": _ZERO},
        "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms,
        "accountType": "SPOT", "balances": rows, "permissions": ["SPOT"], "uid": 1,
    }


def exchange_info_json(config: BinanceSimConfig, status: SymbolStatus,
                       now_ms: int) -> dict[str, Any]:
    rules, limits = config.rules, config.limits
    lot = {"minQty": fmt8(rules.min_qty), "maxQty": fmt8(rules.max_qty),
           "stepSize": fmt8(rules.step_size)}
    symbol = {
        "symbol": rules.symbol, "status": status, "baseAsset": rules.base_asset,
        "baseAssetPrecision": rules.asset_precision, "quoteAsset": rules.quote_asset,
        "quotePrecision": rules.asset_precision, "quoteAssetPrecision": rules.asset_precision,
        "baseCommissionPrecision": rules.asset_precision,
        "quoteCommissionPrecision": rules.asset_precision,
        "orderTypes": ["LIMIT"], "quoteOrderQtyMarketAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt8(rules.min_price),
             "maxPrice": fmt8(rules.max_price), "tickSize": fmt8(rules.tick_size)},
            {"filterType": "LOT_SIZE", **lot},
            {"filterType": "NOTIONAL", "minNotional": fmt8(rules.min_notional),
             "applyMinToMarket": True, "maxNotional": fmt8(rules.max_notional),
             "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": rules.max_num_orders},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": list(STP_MODES),
    }
    return {
        "timezone": "UTC", "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": limits.weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": limits.orders_per_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
             "limit": limits.orders_per_day},
        ],
        "exchangeFilters": [], "symbols": [symbol],
    }
