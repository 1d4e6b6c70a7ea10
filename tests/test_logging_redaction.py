"""Secrets never reach a log line, whatever path they take (SPEC §8)."""

from __future__ import annotations

import io
import json

import structlog

from ddmm.logging import REDACTED, configure_logging

API_KEY = "0123456789abcdef0123456789abcdef"
PASSWORD = "correct horse battery staple"


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_secrets_are_masked_in_values_nested_fields_urls_and_tracebacks() -> None:
    out = io.StringIO()
    configure_logging(secrets=[API_KEY, PASSWORD], stream=out)
    log = structlog.get_logger().bind(actor="test")

    log.info("plain_value", api_key=API_KEY)
    log.info("nested", request={"headers": {"X-API-KEY": API_KEY}, "attempts": [PASSWORD, 3]})
    log.info("url_logged", url=f"wss://stream.example/accounts/stream?api_key={API_KEY}&x=1")
    log.info("unregistered_query_key", url="https://h/p?api_key=zzzzzzzzzzzz")
    try:
        raise RuntimeError(f"login failed for password {PASSWORD}")
    except RuntimeError:
        log.exception("exception_logged")

    text = out.getvalue()
    assert API_KEY not in text
    assert PASSWORD not in text
    assert "zzzzzzzzzzzz" not in text
    events = {line["event"]: line for line in _lines(out)}
    assert events["plain_value"]["api_key"] == REDACTED
    assert events["nested"]["request"] == {
        "headers": {"X-API-KEY": REDACTED},
        "attempts": [REDACTED, 3],
    }
    assert "RuntimeError" in str(events["exception_logged"]["exception"])
    assert events["plain_value"]["actor"] == "test"
    assert {"ts", "level", "event"} <= set(events["plain_value"])


def test_tracebacks_never_include_local_variables() -> None:
    out = io.StringIO()
    configure_logging(stream=out)  # nothing registered: only "no locals" can protect it
    unregistered = "local-only-secret-value-42"

    def failing(token: str) -> None:
        raise ValueError("boom")

    try:
        failing(unregistered)
    except ValueError:
        structlog.get_logger().exception("failed")
    assert "boom" in out.getvalue()
    assert unregistered not in out.getvalue()


def test_pretty_renderer_masks_too() -> None:
    out = io.StringIO()
    configure_logging(secrets=[API_KEY], stream=out, pretty=True)
    structlog.get_logger().info("pretty", key=API_KEY)
    assert "pretty" in out.getvalue()
    assert API_KEY not in out.getvalue()


def test_log_file_receives_the_same_lines(tmp_path) -> None:
    out = io.StringIO()
    path = tmp_path / "logs" / "ddmm.jsonl"
    configure_logging(secrets=[API_KEY], stream=out, file=path)
    structlog.get_logger().warning("to_file", key=API_KEY)
    assert json.loads(path.read_text().splitlines()[0])["key"] == REDACTED
    assert path.read_text() == out.getvalue()


def test_level_filter_drops_lower_levels() -> None:
    out = io.StringIO()
    configure_logging(stream=out, level="warning")
    structlog.get_logger().info("hidden")
    structlog.get_logger().warning("shown")
    assert [line["event"] for line in _lines(out)] == ["shown"]
