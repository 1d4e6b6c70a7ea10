"""`python -m ddmm` — see ddmm.cli."""

from ddmm.cli import main

raise SystemExit(main())
