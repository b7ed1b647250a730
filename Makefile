# The two commands of the README: `make demo` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint ui bench clean rehearsal

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/doisoat demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Not a quick-start command: needs PostgreSQL on 127.0.0.1:5432 (README, "National rehearsal").
rehearsal: $(STAMP)
	$(BIN)/doisoat rehearse

ui: $(STAMP)
	$(BIN)/doisoat ui

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_quota.py
	$(BIN)/python benchmarks/bench_normalise.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_match.py
	$(BIN)/python benchmarks/bench_generate.py --sizes 1000000

clean:
	rm -rf data/population data/inbox data/lake data/warehouse data/dagster_home data/truth data/reports
