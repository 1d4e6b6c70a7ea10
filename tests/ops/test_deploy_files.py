"""The files in deploy/ (issue 16 parts 4 and 5) agree with the bot: every metric the
alerts and the dashboard read exists in a real /metrics exposition, the runbook links
resolve, and the systemd unit and the container stop the bot with SIGINT and wait longer
than its shutdown cancel-all. promtool and systemd-analyze run when they are installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ddmm.actors.account import AccountStatus
from ddmm.actors.reporter import feed_snapshot, merged
from ddmm.config.load import load_config
from ddmm.domain.market import BookTick
from ddmm.domain.quotes import Inventory, PerSide, SideGuard
from ddmm.feeds.status import FeedStatus
from ddmm.hedging.exposure import HedgeStatus
from ddmm.oms.inbox import OmsStatus
from ddmm.oms.pnl import TradingSummary
from ddmm.oms.risk import RiskMode
from ddmm.ops.metrics import BotMetrics
from ddmm.quoting.guard import GuardStatus
from ddmm.quoting.toxicity import CLEAN
from ddmm.runtime.latest import LatestValue

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_BUILTINS = {"up"}
_METRIC = re.compile(r"\b(ddmm_[a-zA-Z0-9_]+|up)\b(?!\s*\()")


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "ddmm.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def _metrics_in(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


def _status(risk: RiskMode, halts: tuple[str, ...]) -> dict[str, Any]:
    """The ops snapshot as wiring builds it: the feed, the OMS, the account (hedging on),
    the quote guard and the tree's restarts, each from its real `report()`."""
    ticks: LatestValue[BookTick] = LatestValue()
    ticks.publish(BookTick(symbol="ADAUSDT", update_id=1, bid=D("0.4500"), bid_qty=D(1000),
                           ask=D("0.4501"), ask_qty=D(1000), recv_ns=0))
    feed = FeedStatus()
    feed.on_tick(trio.current_time() - 0.25)
    oms = OmsStatus(open_bids=3, open_asks=2, pending=1, risk=risk, refused_places=0,
                    quiet=False)
    today = TradingSummary(fills=4, bought_ada=D(300), sold_ada=D(200), volume_usdm=D(225),
                           fees_usdm=D("0.2"), realized_pnl_usdm=D("1.5"))
    account = AccountStatus(
        inventory=Inventory(ada_free=D(19000), ada_locked=D(1000), usdm_free=D(8500),
                            usdm_locked=D(500)),
        session_position=D(100), session_fills=4, today_pnl=D("-12.5"), today=today,
        halts=halts, hedged_position=D(-100),
        hedge=HedgeStatus(unhedged_ada=D(-30), in_flight_ada=D(0), hedges_done=3,
                          failing_since_ms=None))
    guard = GuardStatus(guard=PerSide(SideGuard(), SideGuard(paused=True)), toxicity=CLEAN,
                        markout_bps=PerSide(D("-1.5"), D("2.0")),
                        breaker_pulled=PerSide(False, False), pending_markouts=1)
    restarts = {"actor_restarts": {"order_path/executor": 1, "market_data/feed": 0}}
    return merged([feed_snapshot(ticks, feed), lambda: {**oms.report(), **restarts},
                   account.report, guard.report])


def _exposition(snapshot: dict[str, Any]) -> str:
    metrics = BotMetrics()
    metrics.watch(lambda: snapshot)
    metrics.rest_request("POST", "/order/build", 0.05)
    metrics.tick_to_intent.observe(0.0001)
    metrics.limiter_wait.observe(0.2)
    metrics.rate_limit_backoffs.inc()
    return metrics.exposition().decode()


def _exposed_names(text: str) -> set[str]:
    families = list(text_string_to_metric_families(text))
    return ({family.name for family in families}
            | {sample.name for family in families for sample in family.samples})


async def test_every_metric_the_alerts_and_the_dashboard_read_is_exposed() -> None:
    names = _exposed_names(_exposition(_status(RiskMode.NORMAL, ())))
    used = {name for rule in _alert_rules() for name in _metrics_in(rule["expr"])}
    used |= {name for expr in _dashboard_exprs() for name in _metrics_in(expr)}
    assert used - PROMETHEUS_BUILTINS
    assert not used - names - PROMETHEUS_BUILTINS, sorted(used - names - PROMETHEUS_BUILTINS)
    assert "ddmm_rate_limit_backoffs_total" in names and "ddmm_feed_age_s" in names


async def test_halt_and_exchange_unreachable_are_numbers_an_alert_can_compare() -> None:
    text = _exposition(_status(RiskMode.HALTED, ("exchange_unreachable", "daily_loss")))
    for line in ("ddmm_risk_halted 1.0", "ddmm_risk_reduce_only 0.0", "ddmm_halts_count 2.0",
                 "ddmm_exchange_unreachable 1.0", "ddmm_feed_age_s 0.25"):
        assert f"\n{line}\n" in text, line
    calm = _exposition(_status(RiskMode.REDUCE_ONLY, ()))
    for line in ("ddmm_risk_halted 0.0", "ddmm_risk_reduce_only 1.0", "ddmm_halts_count 0.0",
                 "ddmm_exchange_unreachable 0.0"):
        assert f"\n{line}\n" in calm, line


def _headings(doc: Path) -> set[str]:
    """GitHub's anchors of the markdown headings in `doc`."""
    slugs = set()
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slugs.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return slugs


def test_every_alert_says_how_bad_what_to_do_and_links_a_runbook_that_exists() -> None:
    rules = _alert_rules()
    assert {"DdmmFeedStale", "DdmmHalted", "DdmmExchangeUnreachable", "DdmmActorRestarts",
            "DdmmDailyDrawdown", "DdmmRateLimited", "DdmmNoFills", "DdmmHedgeFailing",
            "DdmmUnhedgedExposure"} <= {rule["alert"] for rule in rules}
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        doc, anchor = rule["annotations"]["runbook_url"].split("#")
        assert anchor == name.lower() and anchor in _headings(ROOT / doc), name


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install "
                    f"{'prometheus' if name == 'promtool' else 'systemd'})")
    return path


@pytest.mark.parametrize("args", [
    ["check", "rules", "alerts.yml"],
    ["check", "config", "prometheus.yml"],
    ["test", "rules", "alerts_test.yml"],
])
def test_promtool_accepts_the_rules_the_config_and_the_rule_tests(args: list[str]) -> None:
    done = subprocess.run([_tool("promtool"), *args], cwd=DEPLOY / "prometheus",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _unit() -> dict[str, str]:
    entries = {}
    for line in (DEPLOY / "systemd" / "ddmm.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            entries[key.strip()] = value.strip()
    return entries


def _stop_budget_s() -> float:
    """How long the bot's stop may take (ddmm/wiring.py): half the cancel deadline for the
    graceful cancels, one limiter budget window, then the final cancel-all's deadline."""
    config = load_config(ROOT / "conf" / "config.yaml", environ={}, dotenv=None)
    deadline = config.risk.shutdown_cancel_deadline_s
    window = config.limiter.capacity / config.limiter.refill_per_s
    return deadline / 2 + window + deadline


def test_systemd_stops_with_sigint_and_waits_longer_than_the_shutdown_cancel_all() -> None:
    unit = _unit()
    assert unit["KillSignal"] == "SIGINT"
    assert float(unit["TimeoutStopSec"]) > _stop_budget_s()
    assert unit["Restart"] == "on-failure" and "--mode live" in unit["ExecStart"]


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    tool = _tool("systemd-analyze")
    # verify checks that ExecStart exists: point /opt/ddmm at a stand-in install.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(shutil.which("python3") or "/bin/sh")
    (tmp_path / "var").mkdir()
    (tmp_path / ".env").touch()
    text = (DEPLOY / "systemd" / "ddmm.service").read_text()
    unit = tmp_path / "ddmm.service"
    unit.write_text(text.replace("/opt/ddmm", str(tmp_path)))
    done = subprocess.run([tool, "verify", str(unit)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    print(done.stdout + done.stderr)
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


def test_the_container_stops_with_sigint_as_a_non_root_user() -> None:
    lines = [line.split(None, 1) for line in
             (DEPLOY / "container" / "Containerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    instructions = {word.upper(): rest.strip() for word, rest in lines}
    assert instructions["STOPSIGNAL"] == "SIGINT"
    assert instructions["FROM"].startswith("python:3.11")
    assert instructions["USER"] not in {"root", "0"}
