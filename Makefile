# One task runner for modelyard. `make serve` and `make test` do all the set-up they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs in TEST_WORKERS processes (pytest-xdist, a test file per worker at a time):
# most of its time is spent waiting on child servers, workers and the database.
TEST_WORKERS ?= 2
# The scale-out test run: PostgreSQL + Celery workers on Redis. xdist worker N uses its own
# database <name>_gwN (created from TEST_DATABASE_URL's) and Redis database 8+N (8-15 are the
# tests' own, so at most 8 workers).
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_BROKER_URL ?= redis://127.0.0.1:6379/8
PYTEST_ARGS ?=
PYTEST_PARALLEL := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile,)

.PHONY: serve worker migrate test test-scaleout test-all fmt lint typecheck docs check migration lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Exact versions come from constraints.txt (refresh with `make lock`); ranges from pyproject.toml.
# torch is pinned to its CPU build, which this project's machines keep in /opt/wheels.
PIP_FIND_LINKS_ARG := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
# The client (client/, its own distribution) goes in too: its verbs are `modelyard login`, ...
$(VENV)/.installed-serve: pyproject.toml client/pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q $(PIP_FIND_LINKS_ARG) -c constraints.txt -e '.[all]' -e './client[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml client/pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q $(PIP_FIND_LINKS_ARG) -c constraints.txt -e '.[dev]' -e './client[all]'
	touch $@ $(VENV)/.installed-serve

serve: $(VENV)/.installed-serve  ## migrate, then serve on the embedded defaults (SQLite, in-process jobs)
	$(BIN)/modelyard serve --host $(HOST) --port $(PORT)

worker: $(VENV)/.installed-serve  ## a Celery worker (needs MODELYARD_BROKER_URL)
	$(BIN)/modelyard worker

migrate: $(VENV)/.installed-serve
	$(BIN)/modelyard migrate

test: $(VENV)/.installed-dev  ## the whole suite on the embedded defaults (TEST_WORKERS=1: one process)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-scaleout: $(VENV)/.installed-dev  ## the whole suite on PostgreSQL + Celery/Redis
	MODELYARD_TEST_DATABASE_URL=$(TEST_DATABASE_URL) MODELYARD_TEST_BROKER_URL=$(TEST_BROKER_URL) \
		$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-all: test test-scaleout

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests client
	$(BIN)/ruff check --fix src tests client

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format --check src tests client
	$(BIN)/ruff check src tests client
	$(BIN)/python client/scripts/unasync.py --check

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The docs/ site (MkDocs + Material) into site/; --strict turns a broken link or a page left out
# of the navigation into an error.
docs: $(VENV)/.installed-dev  ## build the docs site with --strict
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

check: lint typecheck docs test

migration: $(VENV)/.installed-dev  ## make migration m="what changed"
	$(BIN)/alembic -c alembic.ini upgrade head
	$(BIN)/alembic -c alembic.ini revision --autogenerate -m "$(m)"

lock: $(VENV)/.installed-dev  ## refresh constraints.txt from the venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^modelyard' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
