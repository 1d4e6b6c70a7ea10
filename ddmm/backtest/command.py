"""`python -m ddmm backtest`: one run, `--compare` (A against B) or `--sweep` (a grid).

Every run writes its own output directory (`report.json`, `report.png`, `fills.csv`,
`run.json`, the database and the log; `ddmm.backtest.report`). `--each` runs every input
file on its own instead of back to back, so a comparison is reported per recording. A
sweep runs its grid points in worker processes, one per core: each point is a whole
backtest (its own Trio run, virtual clock and database), so they share nothing.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from ddmm.backtest import report as reports
from ddmm.backtest.market import Market, recorded_market, synthetic_market
from ddmm.backtest.progress import progress_bar
from ddmm.backtest.runner import backtest_config, run_backtest
from ddmm.config import Config, load_config
from ddmm.config.schema import Regime
from ddmm.errors import ConfigError
from ddmm.logging import configure_logging

HASH_SEED = "0"


@contextmanager
def fixed_hash_seed() -> Iterator[None]:
    """`PYTHONHASHSEED` fixed while the block runs: workers spawned in it (a sweep's, the
    proof's, a bench's) read it as they start, so each run is the same as `ddmm backtest`
    makes it in any parent process."""
    before = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = HASH_SEED
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = before


def reexec_with_fixed_hash_seed() -> None:
    """Run this command again with `PYTHONHASHSEED` fixed, unless it already is.

    Python salts the hash of every str per process, so the iteration order of a set of
    order ids — and from it the order of some requests — differs from run to run; a
    backtest must not. The salt is chosen at interpreter start, so the only way to fix it
    is a fresh interpreter: `execve` replaces this process with the same command line and
    the seed in its environment (sweep workers inherit it).
    """
    if os.environ.get("PYTHONHASHSEED") == HASH_SEED:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "ddmm", *sys.argv[1:]],
              {**os.environ, "PYTHONHASHSEED": HASH_SEED})


@attrs.frozen
class ConfigLoader:
    """The command line's configuration with extra `key=value` overrides applied. Plain
    data, so sweep workers (other processes) rebuild their configuration from it."""

    path: Path | None
    overrides: tuple[str, ...]

    def __call__(self, extra: Sequence[str] = ()) -> Config:
        return load_config(self.path, overrides=[*self.overrides, *extra])


@attrs.frozen(kw_only=True)
class Inputs:
    """What to replay: files (back to back, or `each` on its own) or a synthetic regime."""

    files: tuple[Path, ...] = ()
    regime: Regime | None = None
    duration_s: float = 600.0
    each: bool = False

    def markets(self, config: Config, seed: int) -> list[tuple[str, Market]]:
        """(name, market) of every run the inputs ask for; a regime's path is drawn from
        `seed` like every other random source of the run."""
        tape = config.sim.takers == "tape"
        if self.regime is not None:
            if tape:
                raise ConfigError("sim.takers: tape needs recorded --data (a synthetic "
                                  "regime has no trades)")
            feed = attrs.evolve(config.feed,
                                synthetic=attrs.evolve(config.feed.synthetic, seed=seed))
            return [(self.regime, synthetic_market(self.regime, self.duration_s, feed))]
        files = self.files or (config.feed.replay.path,)
        if self.each:
            return [(path.name.removesuffix(".gz"),
                     recorded_market([path], config.feed, tape=tape)) for path in files]
        name = "+".join(path.name.removesuffix(".gz") for path in files)
        return [(name, recorded_market(list(files), config.feed, tape=tape))]


def run_single(config: Config, inputs: Inputs, *, seed: int, out: Path) -> int:
    """Run each market once; print each summary table; exit code 0 when every run ended
    cleanly."""
    codes = []
    for name, market in inputs.markets(config, seed):
        directory = out / name if inputs.each else out
        summary = run_to(config, market, seed, directory, label=name)
        print(reports.summary_table({name: summary["metrics"]}))
        print(f"report: {directory / reports.REPORT_JSON}  plot: {directory / reports.REPORT_PNG}")
        codes.append(summary["exit_code"])
    return 0 if all(code == 0 for code in codes) else 1


def run_compare(config_a: Config, config_b: Config, inputs: Inputs, *, seed: int,
                out: Path) -> int:
    """A and B on the same markets and seed, side by side with B − A."""
    differences = reports.config_differences(config_a, config_b)
    rows: dict[str, dict[str, Any]] = {}
    codes = []
    for name, market in inputs.markets(config_a, seed):
        run_a = run_to(config_a, market, seed, out / name / "a", label=f"{name} A")
        run_b = run_to(config_b, market, seed, out / name / "b", label=f"{name} B")
        rows[name] = {"a": run_a["metrics"], "b": run_b["metrics"]}
        codes += [run_a["exit_code"], run_b["exit_code"]]
        print(f"== {name}: B differs from A in {differences}")
        print(reports.compare_table(run_a["metrics"], run_b["metrics"]))
    reports.write_json(out / "compare.json", {"differences": differences, "runs": rows})
    return 0 if all(code == 0 for code in codes) else 1


def parse_sweep(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """`key=v1,v2,...` items → (key, values); the grid is their product."""
    axes = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ConfigError(f"--sweep {item!r}: expected key=value1,value2,...")
        axes.append((key.strip(), [v.strip() for v in values.split(",") if v.strip()]))
    return axes


def run_sweep(load: ConfigLoader, axes: list[tuple[str, list[str]]], inputs: Inputs, *,
              seed: int, out: Path, jobs: int) -> int:
    """Every grid point on the same inputs and seed, `jobs` at a time; a table ranked by
    PnL against holding, and `sweep.csv`."""
    points = [[f"{key}={value}" for (key, _), value in zip(axes, combo, strict=True)]
              for combo in itertools.product(*(values for _, values in axes))]
    for point in points:
        load(point)  # a bad value fails here, before any worker starts
    tasks = [(load, point, inputs, seed, out / _point_name(point)) for point in points]
    context = multiprocessing.get_context("spawn")  # no inherited Trio or logging state
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
        results = list(pool.map(run_point, tasks))
    ranked = reports.rank_sweep(list(zip(points, results, strict=True)))
    reports.write_sweep_csv(out / "sweep.csv", ranked)
    print(reports.sweep_table(ranked))
    print(f"sweep: {out / 'sweep.csv'}")
    return 0 if all(result["exit_code"] == 0 for result in results) else 1


def _point_name(point: list[str]) -> str:
    return "_".join(item.replace("=", "-") for item in point)


def run_point(task: tuple[ConfigLoader, Sequence[str], Inputs, int, Path]) -> dict[str, Any]:
    """One grid point (extra overrides) on one input, quietly, in a worker process; the
    run's summary. One argument, so that `ProcessPoolExecutor.map` can call it."""
    load, point, inputs, seed, out = task
    config = load(point)
    (_, market), *rest = inputs.markets(config, seed)
    if rest:
        raise ConfigError("--sweep runs one input at a time (no --each)")
    return run_to(config, market, seed, out, label=" ".join(point), show_progress=False)


def run_to(config: Config, market: Market, seed: int, out: Path, *, label: str,
            show_progress: bool = True) -> dict[str, Any]:
    """One backtest into `out`; the report's summary (metrics and exit code)."""
    run_config = backtest_config(config, out, seed)
    out.mkdir(parents=True, exist_ok=True)
    with (out / reports.LOG_NAME).open("w", encoding="utf-8") as log_file:
        configure_logging(level=config.logging.level, stream=log_file)
        with progress_bar(label, market.duration_s,
                          enabled=show_progress and sys.stderr.isatty()) as progress:
            result = run_backtest(run_config, market, progress=progress)
    return reports.write_outputs(out, config, run_config, market, result, seed)


def default_out(inputs: Inputs, config: Config, seed: int) -> Path:
    """`var/backtest/<inputs>-seed<N>`: the same command writes to the same place."""
    names = [inputs.regime] if inputs.regime else [
        path.name.removesuffix(".gz") for path in inputs.files or (config.feed.replay.path,)]
    return Path("var/backtest") / f"{'+'.join(names)}-seed{seed}"
