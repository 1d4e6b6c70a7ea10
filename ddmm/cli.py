"""Command line: `python -m ddmm [command] [--config F] [--set key=value ...]`.

Each command loads the same configuration the bot would, so a trader can check settings
before going live. Errors are printed as one clear message and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from ddmm import cli_ops
from ddmm.cli_common import EXIT_CONFIG as EXIT_CONFIG
from ddmm.cli_common import EXIT_FAILURE, config_path, load_from_args, overrides
from ddmm.config import load_config
from ddmm.config.live_guard import check_live_start
from ddmm.config.show import config_to_yaml
from ddmm.domain.money import parse_decimal
from ddmm.errors import ConfigError, DdmmError, InvalidNumber


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options accepted before or after the command; subcommands must not reset them
    (argparse would overwrite the top-level value with the subparser's default)."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument("--config", type=Path, default=default(None),
                        help="YAML file (default conf/config.yaml)")
    # Separate lists before and after the command: argparse replaces, not extends, a list
    # that a subparser also sets.
    parser.add_argument("--set", dest="overrides" if top else "overrides_after_command",
                        action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override one setting, e.g. --set quote.num_layers=5 (repeatable)")
    parser.add_argument("--mode", choices=["paper", "live", "shadow", "backtest"],
                        default=default(None))
    parser.add_argument("--pretty", action="store_true", default=default(False),
                        help="human-readable logs instead of JSON lines")
    parser.add_argument("--mainnet", action="store_true", default=default(False),
                        help="confirm a live start on mainnet (real money)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddmm", description=__doc__)
    _add_common(parser, top=True)
    commands = parser.add_subparsers(dest="command")
    subparsers = {name: commands.add_parser(name, help=text) for name, text in COMMAND_HELP.items()}
    for sub in subparsers.values():
        _add_common(sub, top=False)
    _add_backtest_options(subparsers["backtest"])
    quote = subparsers["quote"]
    for flag, text in (("--bid", "Binance best bid"), ("--ask", "Binance best ask"),
                       ("--ada", "total ADA balance"), ("--usdm", "total USDM balance")):
        quote.add_argument(flag, required=True, type=_decimal_arg, help=text)
    _add_sim_binance_options(subparsers["sim-binance"])
    subparsers["config-reference"].add_argument(
        "--out", type=Path, default=None, metavar="FILE",
        help="write the reference here (default: print it)")
    cli_ops.add_top_options(subparsers["top"])
    cli_ops.add_report_options(subparsers["report"])
    return parser


def _add_sim_binance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0,
                        help="loopback port (default 0: a free one, printed in the banner)")
    parser.add_argument("--bid", type=_decimal_arg, default=Decimal("0.4490"),
                        help="static reference bid (default 0.4490)")
    parser.add_argument("--ask", type=_decimal_arg, default=Decimal("0.4510"),
                        help="static reference ask (default 0.4510)")
    parser.add_argument("--depth", type=_decimal_arg, default=Decimal("1000000"),
                        help="ADA at the bid and at the ask (default 1000000)")
    parser.add_argument("--levels", type=int, default=0,
                        help="synthetic levels behind each side, each --depth deep, "
                             "hedge.sim.level_step_bps apart (default 0)")


def _add_backtest_options(parser: argparse.ArgumentParser) -> None:
    from ddmm.config.schema import REGIME_NAMES

    parser.add_argument("--data", action="append", type=Path, default=[], metavar="FILE",
                        help="recording to replay (repeatable: back to back); "
                             "default feed.replay.path")
    parser.add_argument("--each", action="store_true",
                        help="run every --data file on its own instead of back to back")
    parser.add_argument("--synthetic", choices=REGIME_NAMES, metavar="REGIME",
                        help=f"seeded synthetic regime instead of data: {', '.join(REGIME_NAMES)}")
    parser.add_argument("--duration", type=float, default=600.0,
                        help="virtual seconds of a synthetic regime (default 600)")
    parser.add_argument("--seed", type=int, default=42, help="seeds every random source")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default var/backtest/<inputs>-seed<N>)")
    parser.add_argument("--compare", type=Path, default=None, metavar="B.yaml",
                        help="compare with the configuration in B.yaml")
    parser.add_argument("--set-b", dest="overrides_b", action="append", default=[],
                        metavar="KEY=VALUE", help="compare with this config plus KEY=VALUE")
    parser.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="run the grid of these values (repeatable), one process per core")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="sweep worker processes (default: one per core)")


def _decimal_arg(text: str) -> Decimal:
    try:
        return parse_decimal(text, field="value")
    except InvalidNumber as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


COMMAND_HELP = {
    "run": "run the bot (default)",
    "check-config": "print the effective configuration (secrets masked) and exit",
    "config-reference": "the configuration reference in Markdown (docs/configuration.md), "
                        "from the schema and the comments of conf/config.yaml",
    "quote": "print the ladder the bot would quote for a given book and balances (JSON)",
    "sim": "serve the DeltaDeFi simulator on loopback (sim.host, sim.port) until Ctrl-C",
    "fake-binance": "serve the configured replay/synthetic feed as a fake Binance WebSocket",
    "sim-binance": "serve the Binance spot simulator (hedge.sim, a static book) on loopback "
                   "until Ctrl-C",
    "cancel-all": "cancel every open order of the account on exchange.symbol and exit",
    "stop": "emergency stop: a running bot cancels everything and halts (creates risk.stop_file)",
    "resume": "lift an emergency stop and clear latched halts such as the daily-loss halt",
    "status": "print orders, fills, position and risk events from the database",
    "top": "live terminal dashboard of the running bot (the database's state when it is down)",
    "doctor": "read-only preflight: credentials, key, market, balances, feed, clock, DB, port",
    "backtest": "replay recordings or a synthetic regime through the whole bot in virtual time",
    "report": "the backtest report (json, png, fills.csv) of a paper or live session database",
}


def _check_config(args: argparse.Namespace) -> int:
    print(config_to_yaml(load_from_args(args)), end="")
    return 0


def _config_reference(args: argparse.Namespace) -> int:
    from ddmm.config.reference import render

    path = config_path(args)
    if path is None:
        raise ConfigError("config-reference: needs conf/config.yaml (run it from the "
                          "repository root) or --config FILE, whose comments it renders")
    try:
        text = render(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def _quote(args: argparse.Namespace) -> int:
    from ddmm.quoting.whatif import what_if

    ladder = what_if(bid=args.bid, ask=args.ask, ada=args.ada, usdm=args.usdm,
                     config=load_from_args(args))
    print(json.dumps(ladder, indent=2))
    return 0


def _sim(args: argparse.Namespace) -> int:
    from ddmm.logging import configure_logging
    from ddmm.sim.server import main_sim

    config = load_from_args(args)
    configure_logging(level=config.logging.level, pretty=config.logging.pretty)
    return main_sim(config)


def _fake_binance(args: argparse.Namespace) -> int:
    from ddmm.feeds.fake_server import main_fake_binance
    from ddmm.logging import configure_logging

    config = load_from_args(args)
    configure_logging(level=config.logging.level, pretty=config.logging.pretty)
    return main_fake_binance(config.feed)


def _sim_binance(args: argparse.Namespace) -> int:
    from ddmm.logging import configure_logging
    from ddmm.sim.binance.server import StaticBook, main_binance_sim, sim_config_from

    config = load_from_args(args)
    if not 0 < args.bid < args.ask or args.depth <= 0 or not 0 <= args.levels <= 100:
        raise ConfigError("sim-binance: need 0 < --bid < --ask, --depth > 0 and "
                          "0 <= --levels <= 100")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"sim-binance: --port {args.port} is not a port")
    configure_logging(level=config.logging.level, pretty=config.logging.pretty)
    sim_config = attrs.evolve(sim_config_from(config.hedge), depth_levels=args.levels)
    book = StaticBook(bid=args.bid, ask=args.ask, qty=args.depth)
    return main_binance_sim(sim_config, book, port=args.port)


ALLOW_LOCAL_FEED_ENV = "DDMM_TESTING_ALLOW_LOCAL_FEED"
"""Test-only: "1" lets a live-mode drill take its feed from a loopback fake Binance (the
drills have no internet). Never set it for real trading."""


def _doctor(args: argparse.Namespace) -> int:
    import trio

    from ddmm.doctor import report, run_checks
    from ddmm.logging import configure_logging

    try:
        config = load_from_args(args)
    except ConfigError as exc:
        print(f"✗ configuration: {exc} — fix: see conf/config.yaml for the allowed values")
        return EXIT_FAILURE
    # The checklist is the output; the client's own warnings would only repeat it.
    configure_logging(level="error", pretty=True, secrets=config.exchange.secret_values())
    checks = trio.run(run_checks, config)
    print(report(checks))
    return 0 if all(check.ok for check in checks) else EXIT_FAILURE


def _backtest(args: argparse.Namespace) -> int:
    from ddmm.backtest import command

    if args.own_process:
        command.reexec_with_fixed_hash_seed()
    load = command.ConfigLoader(config_path(args), tuple(overrides(args)))
    config = load()
    inputs = command.Inputs(
        files=tuple(getattr(args, "data", [])), regime=getattr(args, "synthetic", None),
        duration_s=getattr(args, "duration", 600.0), each=getattr(args, "each", False))
    if inputs.files and inputs.regime is not None:
        raise ConfigError("backtest: give --data or --synthetic, not both")
    if inputs.regime is None and not inputs.files and config.feed.source == "synthetic":
        inputs = attrs.evolve(inputs, regime=config.feed.synthetic.regime)
    seed = getattr(args, "seed", 42)
    out = getattr(args, "out", None) or command.default_out(inputs, config, seed)
    sweep = getattr(args, "sweep", [])
    compare_b = getattr(args, "compare", None)
    overrides_b = getattr(args, "overrides_b", [])
    if sweep:
        if compare_b is not None or overrides_b:
            raise ConfigError("backtest: --sweep and --compare are separate runs")
        return command.run_sweep(load, command.parse_sweep(sweep), inputs, seed=seed,
                                 out=out, jobs=getattr(args, "jobs", 1))
    if compare_b is not None or overrides_b:
        config_b = (load_config(compare_b, overrides=[*overrides(args), *overrides_b])
                    if compare_b is not None else load(overrides_b))
        return command.run_compare(config, config_b, inputs, seed=seed, out=out)
    return command.run_single(config, inputs, seed=seed, out=out)


def _run(args: argparse.Namespace) -> int:
    from ddmm.app import run_bot

    config = load_from_args(args)
    if config.mode == "backtest":
        return _backtest(args)
    check_live_start(config, mainnet_flag=args.mainnet,
                     allow_local_feed=os.environ.get(ALLOW_LOCAL_FEED_ENV) == "1")
    return run_bot(config)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "check-config": _check_config,
    "config-reference": _config_reference,
    "quote": _quote,
    "sim": _sim,
    "fake-binance": _fake_binance,
    "sim-binance": _sim_binance,
    "cancel-all": cli_ops.cancel_all,
    "stop": cli_ops.stop,
    "resume": cli_ops.resume,
    "status": cli_ops.status,
    "top": cli_ops.top,
    "doctor": _doctor,
    "backtest": _backtest,
    "report": cli_ops.report,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.own_process = argv is None  # this process's command line: a backtest may re-run it
    command = COMMANDS[args.command or "run"]
    try:
        return command(args)
    except ConfigError as exc:
        print(f"ddmm: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DdmmError as exc:
        print(f"ddmm: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except BaseExceptionGroup as group:
        # A start-up failure (wrong password, refused key, exchange unreachable) reaches
        # us wrapped by the nurseries it crossed: report it as the one error it is.
        error = _sole_error(group)
        if error is None:
            raise
        print(f"ddmm: {error}" if isinstance(error, ConfigError)
              else f"ddmm: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(error, ConfigError) else EXIT_FAILURE


def _sole_error(group: BaseExceptionGroup[BaseException]) -> DdmmError | None:
    """The only exception inside `group` (however nested) when it is a ddmm error."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 and isinstance(leaves[0], DdmmError) else None
