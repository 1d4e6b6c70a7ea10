"""Health and metrics from status snapshots (SPEC §8).

The ops server and the status report read the same flat snapshots (feed, orders,
account); this module turns them into the health verdict and, through prometheus-client,
the metrics, so both are testable without a server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_NAME = re.compile(r"[^a-zA-Z0-9_]")


def health(snapshot: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """Healthy only when the feed is fresh, the exchange answers and nothing halts us."""
    problems = []
    if snapshot.get("feed_stale", True):
        problems.append("feed stale")
    halts = list(snapshot.get("halts", []))
    if "exchange_unreachable" in halts:
        problems.append("exchange unreachable")
    if snapshot.get("risk") == "halted" or halts:
        problems.append("halted: " + ", ".join(halts or ["risk"]))
    return not problems, problems


class BotMetrics:
    """The bot's Prometheus registry, served by `GET /metrics` (SPEC §8).

    Three histograms that actors observe into — tick→intent latency (quoter), REST latency
    per endpoint (exchange client), limiter wait — a counter of the limiter's rate-limit
    backoffs (a counter here, not a snapshot field, so a limiter restart does not reset
    it: `rate()` in an alert stays right), and every numeric field of the status
    snapshot as a gauge (a dict field as one gauge labelled by key), read when scraped.
    One registry per bot, passed to whoever observes: no process-global metrics.
    """

    def __init__(self, prefix: str = "ddmm") -> None:
        self.registry = CollectorRegistry()
        self.tick_to_intent = Histogram(
            f"{prefix}_tick_to_intent_seconds", "Book tick taken to target ladder sent.",
            buckets=_LATENCY_BUCKETS_S, registry=self.registry)
        self.rest_latency = Histogram(
            f"{prefix}_rest_request_seconds", "DeltaDeFi REST request latency.",
            ["endpoint"], buckets=_REST_BUCKETS_S, registry=self.registry)
        self.limiter_wait = Histogram(
            f"{prefix}_limiter_wait_seconds", "Order command queued to sent by the limiter.",
            buckets=_REST_BUCKETS_S, registry=self.registry)
        self.rate_limit_backoffs = Counter(
            f"{prefix}_rate_limit_backoffs", "Rate-limit answers the limiter paused for.",
            registry=self.registry)
        self._snapshot = _SnapshotCollector(prefix)
        self.registry.register(self._snapshot)

    def watch(self, snapshot: Callable[[], Mapping[str, Any]]) -> None:
        """Export `snapshot()`'s numbers as gauges from now on."""
        self._snapshot.source = snapshot

    def rest_request(self, method: str, path: str, seconds: float) -> None:
        """Observe one REST call; ids in the path are folded so the label set stays small."""
        endpoint = f"{method} {_ID_SEGMENT.sub('/{id}', path)}"
        self.rest_latency.labels(endpoint=endpoint).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


_LATENCY_BUCKETS_S = (0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25)
_REST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ID_SEGMENT = re.compile(r"/[0-9A-Za-z-]{16,}")
"""Order ids (UUIDs and the like) in a path."""


class _SnapshotCollector(Collector):
    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self.source: Callable[[], Mapping[str, Any]] = dict

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for field, value in sorted(self.source().items()):
            name = f"{self._prefix}_{_NAME.sub('_', field)}"
            if isinstance(value, Mapping):
                family = GaugeMetricFamily(name, f"{field} by key", labels=["key"])
                for label, inner in sorted(value.items()):
                    number = _number(inner)
                    if number is not None:
                        family.add_metric([_NAME.sub("_", str(label))], number)
                yield family
                continue
            number = _number(value)
            if number is not None:
                yield GaugeMetricFamily(name, field, value=number)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
