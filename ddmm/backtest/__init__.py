"""Backtest: the whole bot in virtual time, and the report of what it did (SPEC §13)."""
