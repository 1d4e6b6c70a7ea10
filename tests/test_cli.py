"""The command line loads the same config as the bot and fails clearly (SPEC §8)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ddmm.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_check_config_prints_effective_config_with_overrides_before_and_after(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("DELTADEFI_API_KEY", "cli-test-api-key-123456")
    code = main(["--set", "quote.num_layers=3", "check-config", "--set", "quote.step_bps=4"])
    out = capsys.readouterr().out
    assert code == 0
    shown = yaml.safe_load(out)
    assert shown["quote"]["num_layers"] == 3
    assert shown["quote"]["step_bps"] == "4"
    assert shown["exchange"]["api_key"] == "********"
    assert "cli-test-api-key-123456" not in out


def test_check_config_error_names_the_key_and_exits_non_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ddmm", "check-config", "--set", "quote.num_layers=abc"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "quote.num_layers" in result.stderr


def test_quote_prints_the_bots_ladder_as_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code = main(["quote", "--bid", "0.4500", "--ask", "0.4501", "--ada", "10000", "--usdm", "4500",
                 "--set", "quote.num_layers=3", "--set", "quote.skew.enabled=false"])
    ladder = json.loads(capsys.readouterr().out)
    assert code == 0
    assert Decimal(ladder["gamma"]) == 0
    # Default fees put layer 0 at min_edge = 12 bps: floor(0.45 * (1 - 0.0012), 0.0001).
    assert ladder["bids"][0]["price"] == "0.4494"
    assert ladder["asks"][0]["price"] == "0.4507"
    assert [len(ladder["bids"]), len(ladder["asks"])] == [3, 3]


def test_quote_refuses_a_crossed_book(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quote", "--bid", "0.45", "--ask", "0.44", "--ada", "1", "--usdm", "1"]) != 0
    assert "bid" in capsys.readouterr().err
