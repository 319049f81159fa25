# Messageboard: `make run` serves the board, `make test` runs the whole suite.
# Both set up .venv first, so they work on a fresh clone, any number of times.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# The interpreter that builds .venv: PYTHON if given, else the first python3.x >= 3.12 found.
PYTHON ?= $(shell for c in python3 python3.14 python3.13 python3.12; do \
	command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$c; break; }; done)

# `make serve`: gunicorn with 2 × cores + 1 sync workers unless WEB_CONCURRENCY says otherwise
# (make serve WEB_CONCURRENCY=8, or in the environment). DEBUG is off unless the environment
# turns it on, so SECRET_KEY and ALLOWED_HOSTS must be set (README, "Production").
SERVE_ENV = DEBUG=$${DEBUG:-false} MESSAGEBOARD_STATIC_MANIFEST=true
# `make run` is the development server: DEBUG on (the settings default to off), so it needs no
# SECRET_KEY and serves plain HTTP on localhost.
RUN_ENV = DEBUG=true

.PHONY: run serve test lint format setup check-python clean

check-python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "Messageboard needs Python 3.12 or newer (Django 6.1 requires it)."; \
		echo "Found: $$(python3 --version 2>&1 || echo 'no python3')."; \
		echo "Install Python 3.12+ (e.g. 'apt-get install python3.12 python3.12-venv', 'pyenv install 3.12', or 'uv python install 3.12')"; \
		echo "and run again, or point make at it: make PYTHON=/path/to/python3.12 run"; \
		exit 1; \
	fi

$(VENV)/.installed-run: requirements.txt | check-python
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-run requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

serve: $(VENV)/.installed-run
	$(SERVE_ENV) $(PY) manage.py migrate --noinput
	$(SERVE_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(SERVE_ENV) HOST=$(HOST) PORT=$(PORT) $(if $(WEB_CONCURRENCY),WEB_CONCURRENCY=$(WEB_CONCURRENCY)) \
		$(VENV)/bin/gunicorn --config messageboard/gunicorn.conf.py messageboard.wsgi

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache staticfiles
