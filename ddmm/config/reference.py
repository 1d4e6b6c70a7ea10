"""The configuration reference (docs/configuration.md), generated from the schema.

Each key's type, default and allowed range come from `ddmm.config.schema` (the attrs field
types, `Literal` choices, defaults and range validators) and the ordering rules between two
keys from `cross_field_problems` in `ddmm.config.load`; each description is the comment
that `conf/config.yaml` gives the key. The YAML comments are the one source of
descriptions: they cover nearly every key and are what an operator edits beside. A comment
is the text after `#` on the key's line plus the comment-only lines below it indented
deeper than the key; comment-only lines at the key's own indentation directly above it
are a note on the keys that follow and are rendered as a paragraph before them.

`python -m ddmm config-reference --out docs/configuration.md` writes the file;
tests/config/test_config_reference.py fails when it is stale.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from ddmm.config import load as load_module
from ddmm.config.load import SECRET_ENV
from ddmm.config.schema import Config
from ddmm.config.secret import Secret

REGENERATE = "python -m ddmm config-reference --out docs/configuration.md"

_KEY_LINE = re.compile(r"(?P<indent> *)(?P<key>[a-z_][a-z0-9_]*):(?P<rest>.*)")
_COMMENT_LINE = re.compile(r"(?P<indent> *)#(?P<text>.*)")
_INDENT = 2
_TYPE_NAMES: dict[Any, str] = {
    int: "integer", float: "number", Decimal: "decimal", bool: "boolean", str: "text",
    Path: "path", Secret: "secret",
}
_LOWER_OPS = {">=": "≤", ">": "<"}
_UPPER_OPS = {"<=": "≤", "<": "<"}
_SINGLE_OPS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


@attrs.frozen(kw_only=True)
class Key:
    """One leaf setting as the reference shows it."""

    path: str
    type: str
    default: str
    allowed: str
    secret: bool


@attrs.frozen(kw_only=True)
class YamlDoc:
    """What conf/config.yaml says: its header, each key's comment, and each note that
    precedes a key (a comment block at the key's indentation, straight above it)."""

    header: tuple[str, ...]
    comments: dict[str, str]
    notes: dict[str, str]
    keys: tuple[str, ...]
    """Every dotted key, sections included, in file order."""


def schema_keys(cls: type = Config, prefix: str = "") -> Iterator[tuple[str, type | None]]:
    """Every dotted key of the tree in field order: (path, section class or None for a leaf)."""
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        path = f"{prefix}{field.name}"
        kind = hints[field.name]
        if attrs.has(kind):
            yield path, kind
            yield from schema_keys(kind, f"{path}.")
        else:
            yield path, None


def leaf_keys(cls: type = Config, prefix: str = "") -> Iterator[Key]:
    """The leaf settings of `cls` (not its subsections), with type, default and range."""
    hints = typing.get_type_hints(cls)
    defaults = cls()
    ordering = _ordering_rules()
    secrets = {key: env for env, key in SECRET_ENV.items()}
    for field in attrs.fields(cls):
        kind = hints[field.name]
        if attrs.has(kind):
            continue
        path = f"{prefix}{field.name}"
        allowed = [text for text in (_choices(kind), _range(field.validator)) if text]
        allowed += [f"{op} `{other}`" for op, other in ordering.get(path, [])]
        is_secret = Secret in (kind, *typing.get_args(kind))
        default = getattr(defaults, field.name)
        shown = "unset" if is_secret and default is None else f"`{_value(default)}`"
        if is_secret:
            env = secrets.get(path, "DDMM_" + path.upper().replace(".", "__"))
            allowed.append(f"a secret: set it in the environment or .env (`{env}`)")
        yield Key(path=path, type=_type_name(kind), default=shown,
                  allowed="; ".join(allowed), secret=is_secret)


def parse_yaml_comments(text: str) -> YamlDoc:
    """Read the keys and comments of a config file laid out as conf/config.yaml is."""
    header: list[str] = []
    comments: dict[str, str] = {}
    notes: dict[str, str] = {}
    keys: list[str] = []
    stack: list[str] = []
    block: list[str] = []
    current: str | None = None  # the key whose comment may continue on the next lines
    current_indent = 0
    for line in text.splitlines():
        if not line.strip():
            if block and not keys:
                header, block = block, []
            block, current = [], None
            continue
        comment = _COMMENT_LINE.fullmatch(line)
        if comment is not None:
            indent = len(comment["indent"])
            if current is not None and indent > current_indent:
                comments[current] = _join(comments.get(current, ""), comment["text"])
            else:
                block.append(comment["text"].strip())
                current = None
            continue
        match = _KEY_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"unexpected line in the config file: {line!r}")
        current_indent = len(match["indent"])
        stack = [*stack[: current_indent // _INDENT], match["key"]]
        current = ".".join(stack)
        keys.append(current)
        if block:
            notes[current], block = " ".join(block), []
        _, hash_sign, trailing = match["rest"].partition(" #")
        if hash_sign:
            comments[current] = trailing.strip()
    return YamlDoc(header=tuple(header), comments=comments, notes=notes, keys=tuple(keys))


def render(yaml_text: str) -> str:
    """The whole docs/configuration.md for the schema and this config file's comments."""
    doc = parse_yaml_comments(yaml_text)
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated from ddmm/config/schema.py and the comments of conf/config.yaml by"
        f" `{REGENERATE}`. Do not edit: tests/config/test_config_reference.py fails when"
        " this file is stale. -->",
        "",
        "Every setting of `conf/config.yaml` as `section.key`. Type, default and allowed"
        " values come from the schema (`ddmm/config/schema.py`), the descriptions from the"
        " comments in `conf/config.yaml`. Set a key in the YAML file, in the environment as"
        " `DDMM_SECTION__KEY` (nested sections joined by `__`, e.g."
        " `DDMM_FEED__REPLAY__SPEED`; `DDMM_MODE` for `mode`), or with"
        " `--set section.key=value`. `python -m ddmm check-config` prints the effective"
        " values. From the file's header:",
        "",
        *(f"- {line}" for line in doc.header),
        "",
        "Environment variables that set a key under another name:",
        "",
        *(f"- `{env}` sets `{key}`" for env, key in SECRET_ENV.items()),
    ]
    lines += _section_lines("Top level", Config, "", doc)
    for path, section in schema_keys():
        if section is not None:
            lines += _section_lines(f"`{path}`", section, f"{path}.", doc)
    return "\n".join(lines) + "\n"


def _section_lines(title: str, cls: type, prefix: str, doc: YamlDoc) -> list[str]:
    path = prefix.rstrip(".")
    level = "#" * (2 + path.count(".")) if path else "##"
    lines = ["", f"{level} {title}", ""]
    for text in (doc.notes.get(path), doc.comments.get(path)):
        if text:
            lines += [text, ""]
    header = ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    rows: list[str] = []
    for key in leaf_keys(cls, prefix):
        note = doc.notes.get(key.path)
        if note:
            if rows:
                lines += [*header, *rows, ""]
            lines += [note, ""]
            rows = []
        description = doc.comments.get(key.path, "")
        rows.append("| " + " | ".join(_cell(text) for text in (
            f"`{key.path}`", key.type, key.default, key.allowed, description)) + " |")
    if rows:
        lines += [*header, *rows]
    elif lines[-1] == "":
        lines.pop()
    return lines


def _ordering_rules() -> dict[str, list[tuple[str, str]]]:
    """`low ≤ high` pairs, read from the `pairs` list in `cross_field_problems` (the
    source of load.py), so the reference cannot drift from the rule that is enforced."""
    source = Path(load_module.__file__).read_text(encoding="utf-8")
    rules: dict[str, list[tuple[str, str]]] = {}
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.FunctionDef) and node.name == "cross_field_problems"):
            continue
        for item in ast.walk(node):
            if isinstance(item, ast.Tuple) and len(item.elts) == 4:
                low, high = (getattr(item.elts[i], "value", None) for i in (0, 2))
                if isinstance(low, str) and isinstance(high, str):
                    rules.setdefault(low, []).append(("≤", high))
                    rules.setdefault(high, []).append(("≥", low))
    return rules


def _type_name(kind: Any) -> str:
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal:
        return "choice"
    if type(None) in args:
        inner = next(arg for arg in args if arg is not type(None))
        return f"{_type_name(inner)} or null"
    return _TYPE_NAMES[kind]


def _choices(kind: Any) -> str:
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in args)
    if type(None) in args:
        return _choices(next(arg for arg in args if arg is not type(None)))
    return ""


def _range(validator: Any) -> str:
    bounds = _bounds(validator)
    lower = [(op, bound) for op, bound in bounds if op in _LOWER_OPS]
    upper = [(op, bound) for op, bound in bounds if op in _UPPER_OPS]
    if len(lower) == 1 and len(upper) == 1:
        (low_op, low), (high_op, high) = lower[0], upper[0]
        return f"{_value(low)} {_LOWER_OPS[low_op]} x {_UPPER_OPS[high_op]} {_value(high)}"
    return ", ".join(f"{_SINGLE_OPS[op]} {_value(bound)}" for op, bound in bounds)


def _bounds(validator: Any) -> list[tuple[str, Any]]:
    """The (operator, bound) pairs of attrs' range validators, through `and_` groups. Any
    other validator is an error, so the reference never silently drops a rule."""
    if validator is None:
        return []
    group = getattr(validator, "_validators", None)  # attrs' and_ (a list of validators)
    if group is not None:
        return [bound for inner in group for bound in _bounds(inner)]
    if not hasattr(validator, "compare_op"):
        raise TypeError(f"the reference cannot describe the validator {validator!r}")
    return [(validator.compare_op, validator.bound)]


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _join(text: str, more: str) -> str:
    return f"{text} {more.strip()}".strip()
