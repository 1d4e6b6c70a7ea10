"""The operator subcommands of `ddmm`, which act on a bot's account, stop file or
database rather than run one: cancel-all, stop, resume, status, top and report.

Kept out of `ddmm.cli` so the entry point stays a table of commands; heavy modules are
still imported inside each handler, so `ddmm --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from functools import partial
from pathlib import Path

from ddmm.cli_common import EXIT_FAILURE, load_from_args
from ddmm.errors import ConfigError


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, required=True, metavar="FILE",
                        help="the session's database (a paper-mode path finds its newest "
                             "<stem>-paper-<stamp>.db, as `status` does)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default var/report/<db stem>-<window>)")
    parser.add_argument("--from", dest="start", default=None, metavar="ISO|MS",
                        help="window start, ISO-8601 (UTC unless it says) or milliseconds")
    parser.add_argument("--to", dest="end", default=None, metavar="ISO|MS",
                        help="window end (default: the session's last record)")


def add_top_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="the bot's ops endpoint (default http://ops.host:ops.port)")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between refreshes (default 0.5)")


def cancel_all(args: argparse.Namespace) -> int:
    import trio

    from ddmm.exchange.client import DeltaDeFiClient
    from ddmm.logging import configure_logging

    config = load_from_args(args)
    exchange = config.exchange
    if config.mode == "paper" and exchange.rest_url is None:
        raise ConfigError("exchange.rest_url: paper mode needs the simulator's URL "
                          "(the embedded one lives inside the running bot)")
    configure_logging(level=config.logging.level, pretty=config.logging.pretty,
                      secrets=exchange.secret_values())

    async def cancel() -> int:
        async with DeltaDeFiClient.from_config(exchange) as client:
            cancelled = await client.cancel_all(exchange.symbol)
            remaining = await client.open_orders(exchange.symbol)
        print(json.dumps({"cancelled": list(cancelled), "still_open": len(remaining)}))
        return 0 if not remaining else EXIT_FAILURE

    return trio.run(cancel)


def stop(args: argparse.Namespace) -> int:
    path = load_from_args(args).risk.stop_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("emergency stop requested from the command line\n")
    print(f"stop file created: {path} — the bot cancels everything and halts until `ddmm resume`")
    return 0


def resume(args: argparse.Namespace) -> int:
    from ddmm.actors.stop_watch import resume_file

    path = load_from_args(args).risk.stop_file
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    resume_file(path).write_text("resume requested from the command line\n")
    print(f"stop file removed and resume requested ({resume_file(path)})")
    return 0


def status(args: argparse.Namespace) -> int:
    from ddmm.persistence.status import status_report

    print(json.dumps(status_report(load_from_args(args).persistence.path), indent=2))
    return 0


def top(args: argparse.Namespace) -> int:
    import trio

    from ddmm.ops.top import run_top

    config = load_from_args(args)
    if not 0.05 <= args.interval <= 60:
        raise ConfigError("top: --interval must be between 0.05 and 60 seconds")
    host = "127.0.0.1" if config.ops.host in ("0.0.0.0", "::", "") else config.ops.host
    url = args.url or f"http://{f'[{host}]' if ':' in host else host}:{config.ops.port}"
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how an operator leaves
        trio.run(partial(run_top, url=url, interval_s=args.interval,
                         database=config.persistence.path,
                         budget_per_s=config.limiter.refill_per_s))
    return 0


def report(args: argparse.Namespace) -> int:
    from ddmm.backtest import session_report
    from ddmm.persistence.status import status_database

    db = status_database(args.db)
    start, end = (None if text is None else session_report.parse_instant(text)
                  for text in (args.start, args.end))
    out = args.out or session_report.default_out(db, start, end)
    written = session_report.write_session_report(db, out, load_from_args(args),
                                                  start_ms=start, end_ms=end)
    print(session_report.summary(written))
    print(f"report: {out / 'report.json'}  plot: {out / 'report.png'}")
    return 0
