# Developer entry points. `make run` and `make test` work on a fresh machine: they create .venv, install the
# project into it and start an embedded PostgreSQL when no database is configured.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test lint typecheck templates cfn-lint checkov check image-check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the packaging metadata changes.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/orca serve --embedded-db --host $(HOST) --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy orca cloudformation scripts

templates: $(VENV)/.installed
	$(BIN)/python -m cloudformation --env test --out cloudformation/templates/test
	$(BIN)/python -m cloudformation --env prod --out cloudformation/templates/prod

cfn-lint: $(VENV)/.installed
	$(BIN)/cfn-lint cloudformation/templates/*/*.json

# checkov pins an old boto3, so it lives in a virtualenv of its own.
$(VENV)-checkov/bin/checkov:
	$(PYTHON) -m venv $(VENV)-checkov
	$(VENV)-checkov/bin/python -m pip install --quiet 'checkov==3.3.30'

checkov: $(VENV)-checkov/bin/checkov
	$(VENV)-checkov/bin/checkov -d cloudformation/templates --framework cloudformation --skip-download --quiet --compact

check: lint typecheck cfn-lint checkov

image-check:
	bash scripts/image_check.sh

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(VENV)-checkov build *.egg-info .pytest_cache .mypy_cache .ruff_cache
