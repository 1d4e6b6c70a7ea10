"""Deterministic `newClientOrderId`s for hedges (protocol §5).

A hedge covers a set of DeltaDeFi fills. Its id is derived from that set, so a restarted
hedger that recomputes the id can find an order it may have sent before crashing, by
querying `origClientOrderId`. Binance keeps a client id unique only among open orders
and its reuse after an expiry is unclear (§5 U1), so every attempt for the same set gets
its own id: attempts are never resent under a used id.

The REST charset is not documented; FIX's `^[a-zA-Z0-9-_]{1,36}$` is the safe subset
(§5). Lowercase hex cannot spell the SQL keywords the WAF blocks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

PREFIX = "ddmmh-"
DIGEST_HEX_CHARS = 24
"""96 bits of SHA-256: collisions between distinct fill sets are out of reach."""
MAX_LENGTH = 36
MAX_ATTEMPT = 10 ** (MAX_LENGTH - len(PREFIX) - DIGEST_HEX_CHARS - 1) - 1
CLIENT_ORDER_ID = re.compile(r"[a-zA-Z0-9_-]{1,36}")
"""What Binance accepts (FIX's documented rule, §5)."""


def hedge_client_order_id(fill_ids: Iterable[str], attempt: int = 0) -> str:
    """`ddmmh-<24 hex of sha256(sorted unique fill ids)>-<attempt>`, at most 36 chars.

    The same set in any order, with repeats, gives the same id; the ids are encoded as a
    JSON list before hashing, so no choice of ids can make two sets hash the same bytes.
    """
    unique = sorted(set(fill_ids))
    if not unique:
        raise ValueError("a hedge covers at least one fill")
    if not 0 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt must be in 0..{MAX_ATTEMPT}, got {attempt}")
    digest = hashlib.sha256(json.dumps(unique).encode()).hexdigest()[:DIGEST_HEX_CHARS]
    return f"{PREFIX}{digest}-{attempt}"


def is_valid_client_order_id(value: str) -> bool:
    return CLIENT_ORDER_ID.fullmatch(value) is not None
