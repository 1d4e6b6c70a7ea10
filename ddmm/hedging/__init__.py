"""Hedging DeltaDeFi fills on Binance (SPEC §16, issue 15): the pure decisions."""
