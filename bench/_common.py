"""Shared benchmark plumbing: machine description and the JSON result file (SPEC §11)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, Any]:
    """What the figures were measured on; results are only comparable on the same machine."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_result(name: str, metrics: dict[str, Any], params: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json, print it, and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {"name": name, "machine": machine_info(), "metrics": metrics, "params": params}
    path = RESULTS_DIR / f"{name}.json"
    text = json.dumps(document, indent=2, sort_keys=True)
    path.write_text(text + "\n")
    print(text)
    return path
