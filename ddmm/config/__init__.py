"""Typed configuration: schema (attrs tree), strict conversion, and loading."""

from ddmm.config.load import load_config
from ddmm.config.schema import Config
from ddmm.config.secret import Secret

__all__ = ["Config", "Secret", "load_config"]
