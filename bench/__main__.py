"""Run every benchmark in turn: `python -m bench` (or `make bench`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(here)])
        if not info.name.startswith("_")
    )
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
