# Quantsentinel developer commands. Everything runs from a local virtualenv (.venv).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo ui test lint bench clean

setup: $(VENV)/.installed

# torch first, from its CPU wheel: any other torch requirement pulls gigabytes of CUDA wheels.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/qs replay $(ARGS)

ui: setup
	$(BIN)/qs ui

lint: setup
	$(BIN)/ruff check src tests benchmarks migrations
	$(BIN)/ruff format --check src tests benchmarks migrations

test: setup lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

bench: setup
	$(BIN)/python benchmarks/bench_pricing.py
	$(BIN)/python benchmarks/bench_simulator.py
	$(BIN)/python benchmarks/bench_demo.py
	$(BIN)/python benchmarks/bench_registry.py
	$(BIN)/python benchmarks/bench_vol.py
	$(BIN)/python benchmarks/bench_density.py
	$(BIN)/python benchmarks/bench_iv_reversion.py
	$(BIN)/python benchmarks/bench_risk.py
	$(BIN)/python benchmarks/bench_signals.py
	$(BIN)/python benchmarks/bench_combination.py
	$(BIN)/python benchmarks/bench_bandit.py

clean:
	rm -rf .quantsentinel .pytest_cache .ruff_cache
