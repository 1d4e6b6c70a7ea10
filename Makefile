# Every target creates or refreshes .venv first; the stamp file makes that idempotent
# (reinstall only when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench strategy clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m ddmm $(ARGS)

# Two workers (the suite mostly waits on I/O); drills that share output stay on one worker
# (tests/conftest.py).
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ddmm tests bench
	$(BIN)/mypy ddmm
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

# Strategy v2 against the static ladder on every input (bench/results/strategy_v2.md).
strategy: $(STAMP)
	$(BIN)/python -m bench.strategy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
