# Every target creates or refreshes .venv first; the stamp file makes that idempotent
# (reinstall only when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench strategy hedging promtool-check clean

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

# Hedging on Binance off against on, every recording (bench/results/hedging.md).
hedging: $(STAMP)
	$(BIN)/python -m bench.hedging

# The scrape config and the alert rules with their unit tests (needs promtool: Debian's
# prometheus package). make test runs the same checks when promtool is installed.
promtool-check:
	promtool check config deploy/prometheus/prometheus.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
