# toolbox — every target a new user, cron or CI needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TOOLBOX := $(BIN)/toolbox
DEMO_OPERATIONS ?= 2000
MYSQL_TEST_URL ?= mysql+pymysql://toolbox:tbx-test-pw@127.0.0.1:3306/test

.PHONY: help install demo test test-sqlite test-mysql test-cron db-up lint bench clean \
        kpi kpi-acumulado tablas-reportes tablas-cxc tipo-cambio status list

help:
	@echo "make demo   - install, seed demo data into SQLite, run tablas-reportes, show status"
	@echo "make test   - SQLite suite, then the MariaDB suite (pytest -m production) and cron e2e"
	@echo "make install | lint | bench | db-up | kpi | kpi-acumulado | tablas-reportes | tablas-cxc | tipo-cambio"

$(BIN)/toolbox: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/toolbox

demo: install
	$(TOOLBOX) db init
	$(TOOLBOX) demo --operations $(DEMO_OPERATIONS)
	$(TOOLBOX) tablas-reportes
	$(TOOLBOX) status

db-up:
	scripts/db-setup

test-sqlite: install
	$(BIN)/pytest -q

test-mysql: install db-up
	TOOLBOX_TEST_MYSQL_URL=$(MYSQL_TEST_URL) $(BIN)/pytest -q -m production

test-cron: install
	scripts/cron-setup
	$(BIN)/pytest -q -m cron

test: test-sqlite test-mysql test-cron

lint: install
	$(BIN)/ruff check toolbox_cli tests scripts

bench: install db-up
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python scripts/bench.py

kpi kpi-acumulado tablas-reportes tablas-cxc tipo-cambio status list: install
	$(TOOLBOX) $@

clean:
	rm -rf $(VENV) data .pytest_cache *.egg-info
