"""Switches that make the Binance simulator misbehave on purpose, set by tests and drills.

The order faults are the two halves of §5's unknown outcome: `fail_after_execute` applies
the order and then answers 503 with an HTML body (the order exists, the client cannot
know), `fail_before_execute` answers 500 `-1000` without applying it (the order does not
exist). Each counts down one per order request that reaches the engine. `down` answers
every request 503 at the gateway, before rate limits (so without Binance's headers).
"""

from __future__ import annotations

import attrs

GATEWAY_503_HTML = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


@attrs.define(kw_only=True)
class BinanceFaults:
    down: bool = False
    fail_after_execute: int = 0
    """The next N orders are executed, then answered 503 (execution status unknown)."""
    fail_before_execute: int = 0
    """The next N orders are answered 500 `-1000` and never executed."""
    latency_s: float = 0.0
    """Wait before the engine acts (and before the second timing check), on Trio's clock."""

    def take_before(self) -> bool:
        """True when this order must fail before the engine: consumes one."""
        if self.fail_before_execute > 0:
            self.fail_before_execute -= 1
            return True
        return False

    def take_after(self) -> bool:
        """True when this order's answer must be lost after execution: consumes one."""
        if self.fail_after_execute > 0:
            self.fail_after_execute -= 1
            return True
        return False
