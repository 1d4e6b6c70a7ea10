"""Load the configuration: defaults < YAML < environment/.env < `--set` overrides.

Every value from outside arrives as text: YAML is read with PyYAML's BaseLoader (so `012`,
`yes`, `on`, `1e3`, `.inf` stay strings instead of becoming octal, booleans or floats) and
environment variables and `--set` values are strings anyway. One strict converter then
turns text into each field's type and refuses anything ambiguous, naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cattrs
import yaml

from ddmm.config.convert import make_converter, readable_errors
from ddmm.config.schema import Config
from ddmm.errors import ConfigError

ENV_PREFIX = "DDMM_"
"""`DDMM_QUOTE__NUM_LAYERS=12` sets quote.num_layers (double underscore = one level).
Only names with a double underscore, and `DDMM_MODE`, are settings: other `DDMM_*`
variables (test hooks) are left alone."""

SECRET_ENV = {
    "DELTADEFI_API_KEY": "exchange.api_key",
    "DELTADEFI_TRADING_PASSWORD": "exchange.trading_password",
    "DELTADEFI_NETWORK": "exchange.network",
    "DELTADEFI_REST_URL": "exchange.rest_url",
    "DELTADEFI_WS_URL": "exchange.ws_url",
}


def load_config(
    path: Path | None = None,
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = Path(".env"),
) -> Config:
    """Build the effective Config; raises ConfigError with every problem, keys named."""
    env = effective_environ(environ, dotenv)
    tree = _read_yaml(path) if path is not None else {}
    for key, value in env_overrides(env):
        set_path(tree, key, value, source="environment")
    for item in overrides:
        key, value = parse_override(item)
        set_path(tree, key, value, source="--set")
    return structure(tree)


def effective_environ(environ: Mapping[str, str] | None = None,
                      dotenv: Path | None = Path(".env")) -> dict[str, str]:
    """The environment the configuration sees: `environ` (default the process's) over
    the `.env` entries — real variables win. Credentials that live outside the config
    tree (Binance's) are read from it too."""
    env = dict(environ if environ is not None else os.environ)
    if dotenv is not None:
        env = {**read_dotenv(dotenv), **env}
    return env


def structure(tree: Mapping[str, Any]) -> Config:
    """Convert a raw tree of strings into Config, or raise one ConfigError listing all errors."""
    converter = make_converter()
    try:
        config = converter.structure(tree, Config)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise _config_error(readable_errors(exc)) from None
    problems = cross_field_problems(config)
    if problems:
        raise _config_error(problems)
    return config


def _config_error(problems: list[str]) -> ConfigError:
    return ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def cross_field_problems(config: Config) -> list[str]:
    """Rules that span two fields (each field's own range is checked when it is built)."""
    pairs: list[tuple[str, Any, str, Any]] = [
        ("quote.s_min_bps", config.quote.s_min_bps, "quote.s_max_bps", config.quote.s_max_bps),
        ("quote.skew.m_min", config.quote.skew.m_min, "quote.skew.m_max", config.quote.skew.m_max),
        ("feed.reconnect_initial_s", config.feed.reconnect_initial_s,
         "feed.reconnect_max_s", config.feed.reconnect_max_s),
        ("supervisor.backoff_initial_s", config.supervisor.backoff_initial_s,
         "supervisor.backoff_max_s", config.supervisor.backoff_max_s),
        ("limiter.backoff_min_s", config.limiter.backoff_min_s,
         "limiter.backoff_max_s", config.limiter.backoff_max_s),
    ]
    problems = [
        f"{low_key}: must be <= {high_key} ({high}), got {low}"
        for low_key, low, high_key, high in pairs
        if low > high
    ]
    problems.extend(_ops_problems(config))
    credentials = (config.exchange.api_key, config.exchange.trading_password)
    if config.mode in ("live", "shadow") and None in credentials:
        problems.append(
            f"exchange: {config.mode} mode needs DELTADEFI_API_KEY and "
            "DELTADEFI_TRADING_PASSWORD (environment or .env)"
        )
    return problems


OPS_TOKEN_MIN_CHARS = 16


def _ops_problems(config: Config) -> list[str]:
    """Off loopback, anyone who reaches the port could halt or resume trading: POSTs need
    a token then, and one long enough not to be guessed."""
    token = config.ops.token
    if token is None:
        if config.ops.loopback:
            return []
        return [f"ops.token: required when ops.host ({config.ops.host}) is not a loopback "
                "address; set DDMM_OPS__TOKEN (environment or .env), then POST /stop and "
                "/resume need `Authorization: Bearer <token>`"]
    if len(token.reveal().strip()) < OPS_TOKEN_MIN_CHARS:
        return [f"ops.token: must be at least {OPS_TOKEN_MIN_CHARS} characters"]
    return []


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of sections")
    return data


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (comments, blank lines, optional quotes); missing file = {}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    result: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            # Never echo the line: it may hold a secret.
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[name.strip()] = value
    return result


def env_overrides(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (dotted key, value) pairs the environment sets, in a stable order."""
    pairs = [(key, env[name]) for name, key in SECRET_ENV.items() if name in env]
    for name in sorted(env):
        key = name[len(ENV_PREFIX) :]
        if name.startswith(ENV_PREFIX) and ("__" in key or key == "MODE"):
            pairs.append((key.lower().replace("__", "."), env[name]))
    return pairs


def parse_override(item: str) -> tuple[str, str]:
    """`quote.num_layers=12` → ("quote.num_layers", "12")."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key.path=value, got {item.split('=')[0]!r}")
    return key.strip(), value


def set_path(tree: dict[str, Any], dotted: str, value: str, *, source: str) -> None:
    """Set `value` at `dotted` inside the nested dict `tree`, creating sections as needed."""
    parts = dotted.split(".")
    node = tree
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"{source}: {dotted}: {where} is a value, not a section")
        node = child
    node[parts[-1]] = value
