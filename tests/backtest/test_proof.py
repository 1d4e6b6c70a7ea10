"""The strategy v2 proof (SPEC §15, issue 14): its inputs, presets and acceptance lines,
and the comparison itself on one short input, so a regression of v2 is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddmm.backtest.command import ConfigLoader
from ddmm.backtest.proof import (
    PRESETS,
    PROOF_INPUTS,
    ProofRun,
    acceptance,
    markdown_table,
    mean_figures,
    proof_input,
    run_proof,
)

ROOT = Path(__file__).resolve().parents[2]
LOAD = ConfigLoader(ROOT / "conf/config.yaml", ())


def figures(pnl: float, markout: float, uptime: float, actions: float) -> dict[str, float]:
    return {"pnl_vs_hold_usdm": pnl, "markout_10s_bps": markout, "quote_uptime": uptime,
            "actions_per_min": actions, "fills": 10.0, "max_drawdown_usdm": 1.0}


def test_tuning_and_reporting_inputs_are_the_ones_spec_15_names() -> None:
    roles = {item.name: item.role for item in PROOF_INPUTS}
    assert [name for name, role in roles.items() if role == "tune"] == [
        "ethusdt_20240808", "btcusdt_20240808", "calm", "volatile"]
    assert [name for name, role in roles.items() if role == "report"] == [
        "ethusdt_20240809", "btcusdt_20240809", "trend", "crash", "gaps"]
    for item in PROOF_INPUTS:
        if item.file is not None:
            assert (ROOT / item.file).is_file()
    with pytest.raises(ValueError, match="unknown proof input"):
        proof_input("sideways")


def test_the_presets_differ_as_their_names_say() -> None:
    static, v2, wide = (LOAD(PRESETS[name]).quote for name in ("static", "v2", "wide"))
    assert not (static.vol.enabled or static.toxicity.enabled or static.breakers.enabled)
    assert static.anchor == "touch"
    assert v2.vol.enabled and v2.toxicity.enabled and v2.breakers.enabled
    assert (static.s_base_bps, static.num_layers) == (v2.s_base_bps, v2.num_layers)
    assert (wide.anchor, wide.s_base_bps, wide.num_layers) == ("mid", 40, 2)


def test_acceptance_lines() -> None:
    static = figures(pnl=1.0, markout=10.0, uptime=0.97, actions=100.0)
    assert acceptance(static, figures(1.5, 12.0, 0.95, 120.0)) == {
        "pnl_beats_static": True, "markout_beats_static": True,
        "uptime_at_least_0.95": True, "actions_within_20pct": True}
    # a tie is not a win; 0.949 uptime and 21 % more actions fail
    assert acceptance(static, figures(1.0, 10.0, 0.949, 121.0)) == {
        "pnl_beats_static": False, "markout_beats_static": False,
        "uptime_at_least_0.95": False, "actions_within_20pct": False}


def test_means_over_seeds_and_the_table() -> None:
    runs = [ProofRun(preset=preset, input="crash", seed=seed, exit_code=0,
                     figures=figures(pnl + seed, 5.0, 0.96, 100.0))
            for preset, pnl in (("static", -2.0), ("v2", 1.0), ("wide", 0.5))
            for seed in (0, 1)]
    means = mean_figures(runs)
    assert means[("crash", "v2")]["pnl_vs_hold_usdm"] == pytest.approx(1.5)
    table = markdown_table(means, [proof_input("crash")])
    row = table.splitlines()[-1]
    assert row.startswith("| crash | report | -1.500 | +1.500 | +1.000 |")
    # pnl ✓, markout tie ✗, uptime ✓, actions ✓, v2 beat wide ✓
    assert row.endswith("| ✓ | ✗ | ✓ | ✓ | ✓ |")


def test_v2_beats_the_static_ladder_on_three_minutes_of_gaps(tmp_path: Path) -> None:
    """The comparison itself on a short reporting input, one seed: 3 minutes of the `gaps`
    regime (5 bps/√s and a feed silence). v2 must keep what the full table shows there: a
    better PnL against holding and 10 s markout, fewer actions, and more uptime, though
    not the 0.95 of SPEC §15 (docs/strategy.md says why). A regression in any v2
    mechanism shows here."""
    gaps = proof_input("gaps")
    runs = run_proof(LOAD, [gaps], seeds=(42,), out=tmp_path, jobs=2, duration_s=180.0,
                     presets=("static", "v2"))
    assert all(run.exit_code == 0 for run in runs)
    means = mean_figures(runs)
    static, v2 = means[("gaps", "static")], means[("gaps", "v2")]
    assert acceptance(static, v2) == {
        "pnl_beats_static": True, "markout_beats_static": True,
        "uptime_at_least_0.95": False, "actions_within_20pct": True}
    assert v2["quote_uptime"] > static["quote_uptime"]
    assert v2["actions_per_min"] < static["actions_per_min"]
