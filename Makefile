# The Slices console. `make run` starts everything; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run serve test test-postgres bench load soak lint format check-python clean system-chromium system-postgresql \
	system-promtool

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || { \
	  echo "The Slices console needs Python 3.12 or newer (Django 6); '$(PYTHON)' is $$($(PYTHON) --version 2>&1)."; \
	  echo "Install Python 3.12 (with pyenv, the repo's .python-version selects it) or run: make PYTHON=python3.12 ..."; \
	  exit 1; }

$(VENV)/.runtime: requirements.txt | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

# Debian packages beside the Python ones: installed when missing (as root or with sudo), else the command is printed.
system-chromium:
	@scripts/system-packages.sh chromium

system-postgresql:
	@scripts/system-packages.sh postgresql

# promtool (Debian's prometheus package) checks and unit-tests the alert rules in deploy/prometheus.
system-promtool:
	@scripts/system-packages.sh prometheus

run: $(VENV)/.runtime
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py run_console

# The production stack on this machine, on whatever DATABASE_URL names: migrate, collectstatic, then gunicorn, two
# background workers and (unless KODEXA_BASE_URL is set) the sandbox. See README "make serve". Ctrl-C stops it all.
serve: $(VENV)/.runtime
	@mkdir -p var
	$(PY) manage.py serve

test: $(VENV)/.dev system-chromium system-promtool
	@mkdir -p var
	$(VENV)/bin/pytest

# The same suite on PostgreSQL: a throwaway server from Debian's packages (scripts/postgres.sh) on 127.0.0.1.
test-postgres: $(VENV)/.dev system-chromium system-postgresql system-promtool
	@mkdir -p var
	@url=$$(scripts/postgres.sh start) && echo "Testing on $$url" && DATABASE_URL="$$url" $(VENV)/bin/pytest

# Seeds var/bench.sqlite3 (1,000,000 slices and audit entries, first run only), measures, writes bench/results.json.
# The bulk section also runs on PostgreSQL (scripts/postgres.sh), each run on its own database there, and the
# PostgreSQL browsing section: one database per cache size (1M and 10M slices, COPY-seeded on the first run; the 10M
# one takes about 30 GB and half an hour to seed), and the sync into a PostgreSQL cache holding 1M slices (its own).
bench: $(VENV)/.dev system-postgresql
	@mkdir -p var
	@url=$$(scripts/postgres.sh start) && $(PY) bench/run.py --server "$$url"

# Locust only here: `make test` and CI stay lean.
$(VENV)/.load: requirements.txt requirements-load.txt | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-load.txt
	@touch $@ $(VENV)/.runtime

# PostgreSQL (scripts/postgres.sh) with 1,000,000 cached slices (seeded into its own database on the first run),
# `manage.py serve`, 50 Locust users for 60 s while a 1,000-slice bulk edit runs; prints and writes the figures.
load: $(VENV)/.load system-postgresql
	@mkdir -p var
	@url=$$(scripts/postgres.sh start) && $(PY) bench/load.py --server "$$url"

# A 5,000-slice bulk edit on PostgreSQL (its own database, recreated) against the sandbox at 20% errors, lost answers,
# timeouts and 429 storms, while both workers are killed twice each and the server is crashed mid-job and mid-sync;
# checks every item ended once, nothing was applied twice, every attempt was audited, the web answered 503 while the
# database was down and the sync's cache matches (exit 1 if not). It crashes its server, so it runs its own
# (PG_PORT 54339, var/postgres-soak unless set), committing synchronously. `$(PY) bench/soak.py --sqlite`: SQLite.
soak: $(VENV)/.dev system-postgresql
	@mkdir -p var
	@export PG_PORT=$${PG_PORT:-54339} PG_DATA=$${PG_DATA:-$$PWD/var/postgres-soak} PG_SYNCHRONOUS_COMMIT=on && \
	  url=$$(scripts/postgres.sh start) && $(PY) bench/soak.py --server "$$url"

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache test-artifacts
