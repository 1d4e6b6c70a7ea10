"""structlog setup: JSON lines (or a console renderer) with secrets redacted everywhere.

Redaction is the last processor before rendering, so it sees the final strings: event
fields, nested containers, formatted exception text and tracebacks. Tracebacks are
rendered without local variables (structlog's default `show_locals` would dump every
frame's locals, secrets included).
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"
# Any URL query parameter that carries a credential, whatever its value.
_QUERY_SECRET = re.compile(r"(?i)\b(api_key|apikey|api-key|password|token)=([^&\s\"']+)")
_MIN_SECRET_LENGTH = 4
"""Shorter values would redact innocent text; real keys and passwords are far longer."""


class SecretRedactor:
    """Replace every configured secret value, and any `api_key=` style query value, by
    a mask in all strings of an event (recursively)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Register one more value to hide (longest first, so overlaps mask fully)."""
        if len(secret) >= _MIN_SECRET_LENGTH and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def redact_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)

    def redact(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, Mapping):
            return {self.redact(k): self.redact(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact(item) for item in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        # Anything else (objects, exceptions, bytes) is rendered as text first, then masked.
        return self.redact_text(str(value))

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        return {key: self.redact(value) for key, value in event_dict.items()}


def configure_logging(
    *,
    level: str = "info",
    pretty: bool = False,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    file: Path | None = None,
) -> SecretRedactor:
    """Configure structlog process-wide; returns the redactor so more secrets can be added.

    Lines go to `stream` (stdout by default) and, when `file` is given, are appended there too.
    """
    redactor = SecretRedactor(secrets)
    out: TextIO = stream if stream is not None else sys.stdout
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        out = cast(TextIO, _Tee(out, file.open("a", encoding="utf-8")))
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        # Plain traceback text, no locals; rendered before redaction so it is masked too.
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer: Processor
    if pretty:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    else:
        renderer = structlog.processors.JSONRenderer(default=str)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    return redactor


class _Tee(io.TextIOBase):
    """Write each log line to two streams (console and log file)."""

    def __init__(self, first: TextIO, second: TextIO) -> None:
        self._streams = (first, second)

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
