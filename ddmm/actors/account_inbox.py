"""The account actor's mailbox messages (SPEC §2, §6).

Kept apart from the actor so the actors that report to the account (executor, stop
watch, account watcher, reconciler, the wiring) depend on these values, never on
another actor's module.
"""

from __future__ import annotations

import attrs

from ddmm.exchange.account_stream import BalanceEvent


@attrs.frozen
class FillsChanged:
    """A new fill was recorded: position and PnL moved."""


@attrs.frozen(kw_only=True)
class HaltRequested:
    reason: str


@attrs.frozen
class ResumeRequested:
    """Operator resume: clears every latched halt."""


@attrs.frozen(kw_only=True)
class ConditionChanged:
    """A condition that halts trading while it lasts (exchange unreachable, trading locked,
    emergency stop file present); `until_ms` lets it expire by itself."""

    kind: str
    active: bool
    reason: str
    until_ms: int | None = None


AccountMsg = BalanceEvent | FillsChanged | HaltRequested | ResumeRequested | ConditionChanged
