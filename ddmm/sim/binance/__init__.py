"""A loopback fake of Binance's spot REST trading API for one symbol (the hedge venue).

Independent of `ddmm.exchange` by contract: it implements the protocol reference
(`binance-trading.md`) on its own, so a client bug shows up as a disagreement instead of
being shared. Layers, inner to outer: `numbers`, `errors`, `book` and `engine` (pure
matching, balances, order store), `params` and `auth` (request parsing, signature and
timing rules), `limits` and `faults` (rate limits, injected failures), `wire` (JSON
shapes), `app` (the Starlette app, with `control`: the drills' `/_sim/` routes),
`server` (hypercorn on loopback; standalone as `ddmm sim-binance`).
"""
