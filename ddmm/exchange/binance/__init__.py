"""Binance spot REST adapter for the hedger (protocol: docs binance-trading.md).

One job per module: `signing` (the signed query), `credentials` (keys from the
environment), `filters` (tick, step, notional), `errors` (answers → typed exceptions),
`weights` (request-weight budget), `wire` (response bodies → frozen values),
`client_order_id` (deterministic hedge ids) and `client` (the HTTP calls).
"""
