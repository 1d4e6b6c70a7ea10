"""One error hierarchy for the whole bot.

Raw failures (exchange answers, bad frames, bad config) are mapped to these once, at the
edge that sees them, so the rest of the code decides on types, never on strings.
"""

from __future__ import annotations


class DdmmError(Exception):
    """Base of every error ddmm raises on purpose."""


class ConfigError(DdmmError):
    """Configuration is invalid; the message names the key, the value and what is allowed."""


class InvalidNumber(DdmmError, ValueError):
    """A number from outside (exchange, feed, config) failed strict parsing."""


class FeedError(DdmmError):
    """The market-data feed failed in a way its actor cannot recover from by itself."""


class SigningError(DdmmError):
    """Decrypting the operation key or signing a transaction failed."""


class ExchangeError(DdmmError):
    """The exchange answered with an error.

    `code` is DeltaDeFi's JSON `code` when the body carried one (decided on first, since
    the HTTP status is not a reliable classifier), `status` the HTTP status.
    """

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return f"{self.args[0]} (code={self.code}, status={self.status})"


class TransportError(ExchangeError):
    """No usable answer: connection failure, timeout, or a body that is not JSON."""


class ExchangeTimeout(TransportError):
    """A request timed out: its outcome at the exchange is unknown."""


class RateLimited(ExchangeError):
    """Code 4290 / HTTP 429: over the exchange's request budget."""


class TradingLocked(ExchangeError):
    """Code 5002: the exchange has locked trading for the account (e.g. a Hydra cycle)."""


class InsufficientBalance(ExchangeError):
    """The account cannot fund the order."""


class OrderNotFound(ExchangeError):
    """Code 4200: no such order (cancel-all answers this when nothing is open)."""


class InvalidOrder(ExchangeError):
    """The exchange rejected the order's parameters (price, quantity, symbol, precision)."""


class BuildExpired(ExchangeError):
    """Code 4300: the built transaction expired before submission; the order is dead."""


class DuplicateSubmission(ExchangeError):
    """Code 4302: the transaction was already submitted."""


class AuthenticationError(ExchangeError):
    """The API key is missing, malformed or refused."""


class PersistenceError(DdmmError):
    """The database failed; the persistence actor raises it to its callers."""


class MalformedResponse(TransportError):
    """The exchange answered, but the body cannot be understood (not JSON, a missing field,
    an odd number, an unknown status): as unusable as no answer, so the outcome is unknown."""


class OrderNotOpen(ExchangeError):
    """Code 4201/4202: the order exists but is no longer open (filled or cancelled)."""


class ServerError(ExchangeError):
    """Code 5000/5001 (or a JSON 5xx): the exchange failed internally; a write's effect is
    unknown until the order is queried."""


class PersistenceConflict(PersistenceError):
    """One request was refused by the schema (duplicate id, violated constraint, missing
    row): only that request failed; the database and every other write are fine."""


class ReadOnlyViolation(DdmmError):
    """A read-only (shadow) client was asked to call an order endpoint: a bug, refused."""
