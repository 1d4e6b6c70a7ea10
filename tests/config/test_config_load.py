"""Config loading: precedence, strict conversion, YAML pitfalls, clear errors (SPEC §8, B11)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ddmm.config.load import load_config
from ddmm.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _load(yaml_text: str | None = None, tmp_path: Path | None = None, **kwargs):
    path = None
    if yaml_text is not None:
        assert tmp_path is not None
        path = tmp_path / "config.yaml"
        path.write_text(yaml_text)
    kwargs.setdefault("environ", {})
    kwargs.setdefault("dotenv", None)
    return load_config(path, **kwargs)


def test_shipped_config_equals_the_built_in_defaults() -> None:
    """conf/config.yaml documents every default: loading it changes nothing."""
    assert load_config(REPO / "conf" / "config.yaml", environ={}, dotenv=None) == _load()


def test_precedence_is_cli_over_env_over_yaml(tmp_path: Path) -> None:
    yaml_text = "quote:\n  num_layers: 4\n  s_base_bps: 9\n  step_bps: 11\n"
    env = {"DDMM_QUOTE__NUM_LAYERS": "5", "DDMM_QUOTE__S_BASE_BPS": "7"}
    config = _load(yaml_text, tmp_path, environ=env, overrides=["quote.num_layers=6"])
    assert config.quote.num_layers == 6  # CLI
    assert config.quote.s_base_bps == Decimal("7")  # env
    assert config.quote.step_bps == Decimal("11")  # YAML
    assert config.quote.total_liquidity == Decimal("5000")  # default


def test_dotenv_supplies_secrets_and_real_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nDELTADEFI_API_KEY='from-dotenv-key'\nDELTADEFI_TRADING_PASSWORD=pw-dotenv\n")
    config = _load(environ={"DELTADEFI_TRADING_PASSWORD": "pw-env"}, dotenv=dotenv)
    assert config.exchange.api_key is not None and config.exchange.trading_password is not None
    assert config.exchange.api_key.reveal() == "from-dotenv-key"
    assert config.exchange.trading_password.reveal() == "pw-env"
    assert "from-dotenv-key" not in repr(config)


@pytest.mark.parametrize(
    ("yaml_text", "key", "needle"),
    [
        ("quote:\n  num_layers: 012\n", "quote.num_layers", "leading zeros"),
        ("quote:\n  skew:\n    enabled: yes\n", "quote.skew.enabled", "true or false"),
        ("quote:\n  skew:\n    enabled: on\n", "quote.skew.enabled", "true or false"),
        ("quote:\n  total_liquidity: 1e3\n", "quote.total_liquidity", "plain decimal"),
        ("quote:\n  total_liquidity: .inf\n", "quote.total_liquidity", "plain decimal"),
        ("quote:\n  reserve: .nan\n", "quote.reserve", "plain decimal"),
        ("quote:\n  reserve: 2\n", "quote.reserve", "must be < 1"),
        ("quote:\n  num_layers: 0\n", "quote.num_layers", "must be >= 1"),
        ("quote:\n  nm_layers: 3\n", "quote.nm_layers", "unknown key"),
        ("mode: papr\n", "mode", "one of paper, live, shadow, backtest"),
        ("limiter:\n  capacity: 1_000\n", "limiter.capacity", "expected an integer"),
        ("quote:\n  toxicity:\n    action: shrink\n", "quote.toxicity.action",
         "one of widen, pause"),
        ("quote:\n  toxicity:\n    window_fills: 0\n", "quote.toxicity.window_fills",
         "must be >= 1"),
        ("quote:\n  breakers:\n    cooldown_s: 0\n", "quote.breakers.cooldown_s",
         "must be > 0"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, yaml_text: str, key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(yaml_text, tmp_path)
    message = str(caught.value)
    assert f"{key}:" in message
    assert needle in message


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load("quote:\n  num_layers: x\nrisk:\n  max_open_orders: -1\n", tmp_path)
    assert "quote.num_layers" in str(caught.value)
    assert "risk.max_open_orders" in str(caught.value)


def test_cli_override_with_bad_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"quote\.num_layers: expected an integer, got 'abc'"):
        _load(overrides=["quote.num_layers=abc"])


def test_cross_field_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"quote\.s_min_bps: must be <= quote\.s_max_bps"):
        _load(overrides=["quote.s_min_bps=60"])


def test_live_mode_without_credentials_is_refused_without_echoing_secrets() -> None:
    with pytest.raises(ConfigError, match="DELTADEFI_API_KEY") as caught:
        _load(overrides=["mode=live"], environ={"DELTADEFI_TRADING_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in str(caught.value)


def test_bad_secret_value_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load("exchange:\n  api_key:\n    nested: supersecretvalue\n", tmp_path)
    assert "exchange.api_key" in str(caught.value)
    assert "supersecretvalue" not in str(caught.value)


def test_null_unsets_optional_values() -> None:
    config = _load(overrides=["feed.replay.rescale_to=null"])
    assert config.feed.replay.rescale_to is None


def test_malformed_override_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        _load(overrides=["quote.num_layers"])
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", environ={}, dotenv=None)
    with pytest.raises(ConfigError, match="not valid YAML"):
        _load("quote: [unclosed\n", tmp_path)


def test_environment_settings_need_a_section_and_leave_other_ddmm_variables_alone() -> None:
    config = _load(environ={"DDMM_MODE": "backtest", "DDMM_FAULT_POINT": "after_build",
                            "DDMM_RISK__MAX_OPEN_ORDERS": "7"})
    assert config.mode == "backtest"
    assert config.risk.max_open_orders == 7
