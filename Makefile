# LeadCRM: `make run` serves the demo, `make test` runs the suite. Both set themselves up.
#
# The virtual environment is rebuilt only when a requirements file changes (stamp files).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SEED_LEADS ?= 300
PYTEST_ARGS ?=

RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help run test lint format typecheck migrate seed check clean-var venv venv-dev

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

venv: $(RUN_STAMP)  ## create or update .venv with the runtime requirements
venv-dev: $(DEV_STAMP)  ## create or update .venv with the test and lint tools

migrate: $(RUN_STAMP)  ## apply database migrations
	$(BIN)/python manage.py migrate --no-input

seed: migrate  ## fill the demo data (idempotent; SEED_LEADS=300)
	$(BIN)/python manage.py seed_demo --leads $(SEED_LEADS)

run: seed  ## serve the demo on http://$(HOST):$(PORT) with a Celery worker and beat; Ctrl-C stops all
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python bin/run

test: $(DEV_STAMP)  ## run the whole test suite (LEADCRM_STRICT_SERVICES=1 turns skips into failures)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)  ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)  ## format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(DEV_STAMP)  ## mypy
	$(BIN)/mypy .

check: $(DEV_STAMP)  ## Django system checks and a missing-migrations check
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean-var:  ## delete the local SQLite database, broker folder, mail and logs under var/
	rm -rf var/
