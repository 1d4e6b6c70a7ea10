"""docs/configuration.md is generated from the schema and conf/config.yaml (SPEC §17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddmm.cli import main
from ddmm.config.load import SECRET_ENV
from ddmm.config.reference import REGENERATE, leaf_keys, parse_yaml_comments, render, schema_keys

REPO = Path(__file__).resolve().parents[2]
CONFIG_YAML = REPO / "conf" / "config.yaml"
REFERENCE = REPO / "docs" / "configuration.md"


def test_the_configuration_reference_is_up_to_date() -> None:
    expected = render(CONFIG_YAML.read_text(encoding="utf-8"))
    actual = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert actual == expected, (
        f"docs/configuration.md is stale (the schema or conf/config.yaml changed); "
        f"regenerate it from the repository root with: {REGENERATE}")


def test_every_schema_key_is_in_the_shipped_config_and_nothing_else_is() -> None:
    """Every key but the DeltaDeFi credentials (environment only) is written out, with its
    default, in conf/config.yaml; the file has no key the schema does not know."""
    in_yaml = set(parse_yaml_comments(CONFIG_YAML.read_text(encoding="utf-8")).keys)
    in_schema = {path for path, _ in schema_keys()}
    environment_only = {"exchange.api_key", "exchange.trading_password"}
    assert environment_only <= set(SECRET_ENV.values())
    assert in_schema - environment_only - in_yaml == set(), "keys missing from conf/config.yaml"
    assert in_yaml - in_schema == set(), "keys in conf/config.yaml that the schema lacks"


def test_every_leaf_key_has_a_row_in_the_reference() -> None:
    text = render(CONFIG_YAML.read_text(encoding="utf-8"))
    for path, section in schema_keys():
        if section is None:
            assert f"| `{path}` |" in text, path


def test_rows_show_type_default_range_choices_and_the_yaml_comment() -> None:
    text = render(CONFIG_YAML.read_text(encoding="utf-8"))
    assert ("| `quote.reserve` | decimal | `0.02` | 0 ≤ x < 1 | share of each balance never "
            "committed to quotes |") in text
    assert "| `mode` | choice | `paper` | one of `paper`, `live`, `shadow`, `backtest` |" in text
    assert "| `quote.s_min_bps` | decimal | `2` | ≥ 0; ≤ `quote.s_max_bps` |" in text
    assert "| `logging.file` | path or null | `null` |" in text
    assert "(`DELTADEFI_API_KEY`)" in text


def test_comments_continue_below_a_key_and_notes_above_it_start_a_paragraph() -> None:
    doc = parse_yaml_comments(
        "# header\n\n"
        "a:                # section a\n"
        "  x: 1            # first line\n"
        "                  # second line\n"
        "  # a note on y and what follows\n"
        "  y: 2\n")
    assert doc.header == ("header",)
    assert doc.comments == {"a": "section a", "a.x": "first line second line"}
    assert doc.notes == {"a.y": "a note on y and what follows"}
    assert doc.keys == ("a", "a.x", "a.y")


def test_a_range_validator_the_reference_cannot_describe_is_an_error() -> None:
    import attrs

    @attrs.frozen(kw_only=True)
    class Odd:
        n: int = attrs.field(default=1, validator=attrs.validators.in_([1, 2]))

    with pytest.raises(TypeError, match="cannot describe"):
        list(leaf_keys(Odd))


def test_the_cli_writes_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "configuration.md"
    assert main(["config-reference", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render(CONFIG_YAML.read_text(encoding="utf-8"))
