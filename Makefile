# toolbox — every target a new user, cron or CI needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TOOLBOX := $(BIN)/toolbox
DEMO_OPERATIONS ?= 2000
DEMO_FLAGS ?=
MYSQL_TEST_URL ?= mysql+pymysql://toolbox:tbx-test-pw@127.0.0.1:3306/test
# Parallel test workers (pytest-xdist); every test has a database of its own. Four on a
# 2-core machine: the MariaDB tests mostly wait for the server. PYTEST_WORKERS=0: serial.
PYTEST_WORKERS ?= 4
PYTEST := $(BIN)/pytest -q $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS))
# The lock pins every dependency (extras included); machine-specific pip settings stay out of it.
PIP_COMPILE_FLAGS := --all-extras --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host

.PHONY: help install lock demo demo-fresh test test-sqlite test-mysql test-cron db-up lint bench mutate clean \
        kpi kpi-acumulado tablas-reportes tablas-cxc tipo-cambio status list

help:
	@echo "make demo   - install, seed demo data into SQLite, run tablas-reportes, show status"
	@echo "make demo-fresh - the same over rows demo did not write (imports): replaces them"
	@echo "make test   - SQLite suite, then the MariaDB suite (pytest -m production) and cron e2e"
	@echo "make lint   - ruff, mypy, import-linter (one-way imports, no cycles)"
	@echo "make lock   - refresh requirements.lock (pip-compile) after editing dependencies in pyproject.toml"
	@echo "make mutate - mutation score of the guard, lock, rounding, payment collapse and ledger transitions (mutmut; not in CI)"
	@echo "make install | lint | bench | db-up | kpi | kpi-acumulado | tablas-reportes | tablas-cxc | tipo-cambio"

$(BIN)/toolbox: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $@

install: $(BIN)/toolbox

# Not built on install: the lock must be refreshable when pyproject.toml no longer agrees with it.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/pip-compile || $(BIN)/pip install --quiet $(if $(wildcard requirements.lock),-c requirements.lock) pip-tools
	$(BIN)/pip-compile --quiet $(PIP_COMPILE_FLAGS) --output-file=requirements.lock pyproject.toml

# toolbox demo refuses to replace rows it did not write (an import, an ETL copy): make demo
# then stops, and `make demo-fresh` (DEMO_FLAGS=--force) replaces them with a fresh demo book.
# tablas-reportes then computes from the book just written, which may be smaller than the
# last one the tables were built from: --allow-shrink lets that one run through the guard.
demo: install
	$(TOOLBOX) db init
	$(TOOLBOX) demo --operations $(DEMO_OPERATIONS) $(DEMO_FLAGS)
	$(TOOLBOX) tablas-reportes --allow-shrink
	$(TOOLBOX) status

demo-fresh:
	$(MAKE) demo DEMO_FLAGS=--force

db-up:
	scripts/db-setup

test-sqlite: install
	$(PYTEST)

test-mysql: install db-up
	TOOLBOX_TEST_MYSQL_URL=$(MYSQL_TEST_URL) $(PYTEST) -m production

test-cron: install
	scripts/cron-setup
	$(BIN)/pytest -q -m cron

test: test-sqlite test-mysql test-cron

# ruff, mypy (settings in pyproject.toml), the import contracts, and no `type: ignore`
# without its reason after it.
lint: install
	$(BIN)/ruff check toolbox_cli tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	@if grep -rnE 'type: ignore(\[[^]]*\])?[[:space:]]*$$' toolbox_cli scripts; then \
	  echo "lint: each type: ignore above needs its reason: # type: ignore[code]  # why"; exit 1; fi

bench: install db-up
	$(BIN)/pip install --quiet -c requirements.lock -e '.[bench]'
	$(BIN)/python scripts/bench.py

# The mutation score (README "Tests"): mutmut on the modules that decide what gets published,
# each mutant against its fast tests ([tool.mutmut] in pyproject.toml; the MySQL lock's run
# against the MariaDB of MYSQL_TEST_URL), MUTATE_WORKERS at a time; then the score. Fails
# when a mutant survives that tests/mutants-equivalent.txt does not list with its reason.
# Not in CI: minutes, see the README.
MUTATE_WORKERS ?= 2
mutate: install db-up
	test -x $(BIN)/mutmut || $(BIN)/pip install --quiet -c requirements.lock -e '.[mutate]'
	rm -rf mutants && mkdir mutants
	@start=$$(date +%s); \
	if ! TOOLBOX_TEST_MYSQL_URL=$(MYSQL_TEST_URL) $(BIN)/mutmut run --max-children $(MUTATE_WORKERS) \
	    $$($(BIN)/python scripts/mutation_score.py scope) > mutants/run.log 2>&1; then \
	  tail -n 40 mutants/run.log; echo "mutate: mutmut failed (mutants/run.log)"; exit 1; fi; \
	echo "mutmut ran in $$(( ($$(date +%s) - start) / 60 )) min $$(( ($$(date +%s) - start) % 60 )) s (log: mutants/run.log)"
	$(BIN)/python scripts/mutation_score.py

kpi kpi-acumulado tablas-reportes tablas-cxc tipo-cambio status list: install
	$(TOOLBOX) $@

clean:
	rm -rf $(VENV) data .pytest_cache *.egg-info
