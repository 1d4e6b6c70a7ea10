"""Binance's error answers: one exception carrying the code, the exact message and the
HTTP status, and constructors for the messages that take parameters (§7 of the protocol
reference; messages copied from Binance's errors.md)."""

from __future__ import annotations


class BinanceReject(Exception):
    """A request refused with `{"code": code, "msg": msg}` and HTTP `status`; rate-limit
    answers also carry `Retry-After: retry_after_s`."""

    def __init__(self, code: int, msg: str, status: int = 400,
                 retry_after_s: int | None = None) -> None:
        super().__init__(code, msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.retry_after_s = retry_after_s


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
MARKET_CLOSED = "Market is closed."
MARKET_ORDERS_UNSUPPORTED = "Market orders are not supported for this symbol."
TIMESTAMP_OUTSIDE = "Timestamp for this request is outside of the recvWindow."
TIMESTAMP_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
NUMBER_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
INTEGER_RANGE = r"^[0-9]{1,20}$"
CLIENT_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"


def filter_failure(name: str) -> BinanceReject:
    return BinanceReject(-1013, f"Filter failure: {name}")


def mandatory(name: str) -> BinanceReject:
    return BinanceReject(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def one_of(first: str, second: str) -> BinanceReject:
    return BinanceReject(-1102, f"Param '{first}' or '{second}' must be sent, but both were "
                                "empty/null!")


def too_large(name: str, maximum: int) -> BinanceReject:
    return BinanceReject(-1102, f"'{name}' contains unexpected value. Cannot be greater than "
                                f"{maximum}.")


def illegal(name: str, legal: str) -> BinanceReject:
    return BinanceReject(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def precision(name: str) -> BinanceReject:
    return BinanceReject(-1111, f"Parameter '{name}' has too much precision.")


def invalid(name: str) -> BinanceReject:
    return BinanceReject(-1130, f"Data sent for parameter '{name}' is not valid.")


def unread(read: int, sent: int) -> BinanceReject:
    return BinanceReject(
        -1104, f"Not all sent parameters were read; read '{read}' parameter(s) but was sent "
               f"'{sent}'.")


DUPLICATE_PARAMETER = BinanceReject(-1101, "Duplicate values for a parameter detected.")
BAD_SYMBOL = BinanceReject(-1121, "Invalid symbol.")
BAD_SIGNATURE = BinanceReject(-1022, "Signature for this request is not valid.")
BAD_KEY_FORMAT = BinanceReject(-2014, "API-key format invalid.", status=401)
REJECTED_KEY = BinanceReject(-2015, "Invalid API-key, IP, or permissions for action.",
                             status=401)
NO_SUCH_ORDER = BinanceReject(-2013, "Order does not exist.")
UNKNOWN_ORDER = BinanceReject(-2011, "Unknown order sent.")
CLIENT_ID_MISMATCH = BinanceReject(-2039, "Client order ID is not correct for this order ID.")
BAD_COMBO = BinanceReject(-1128, "Combination of optional parameters invalid.")
UNKNOWN_ERROR = BinanceReject(-1000, "An unknown error occurred while processing the request.",
                              status=500)
