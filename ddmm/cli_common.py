"""What every `ddmm` subcommand shares: the command line turned into a Config, and the
exit codes.

It lives apart from `ddmm.cli` so that the handler modules (`ddmm.cli_ops`) can load the
configuration exactly as the entry point does without importing the entry point back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ddmm.config import Config, load_config

DEFAULT_CONFIG = Path("conf/config.yaml")
EXIT_CONFIG = 2
EXIT_FAILURE = 1


def config_path(args: argparse.Namespace) -> Path | None:
    if args.config is None and DEFAULT_CONFIG.exists():
        return DEFAULT_CONFIG
    path: Path | None = args.config
    return path


def overrides(args: argparse.Namespace) -> list[str]:
    result = [*args.overrides, *getattr(args, "overrides_after_command", [])]
    if args.mode is not None:
        result.append(f"mode={args.mode}")
    if args.pretty:
        result.append("logging.pretty=true")
    return result


def load_from_args(args: argparse.Namespace) -> Config:
    return load_config(config_path(args), overrides=overrides(args))
