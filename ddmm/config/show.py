"""Render the effective configuration for people: plain types, secrets masked."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import cattrs
import yaml

from ddmm.config.schema import Config
from ddmm.config.secret import MASK, Secret


def config_to_plain(config: Config) -> dict[str, Any]:
    """Config as nested dicts of str/int/float/bool/None, with every Secret masked."""
    converter = cattrs.Converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_unstructure_hook(Path, str)
    converter.register_unstructure_hook(Secret, lambda _: MASK)
    plain: dict[str, Any] = converter.unstructure(config)
    return plain


def config_to_yaml(config: Config) -> str:
    return yaml.safe_dump(config_to_plain(config), sort_keys=False, default_flow_style=False)
