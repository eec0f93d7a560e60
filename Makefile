# Common tasks. `make test` is the command CI runs (.ci/run) and the README names.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: test lint unit install preview-dev preview-prod e2e clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

install: $(BIN)/.installed node_modules/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	# A second program: its own run, or the two __main__ modules would clash.
	$(BIN)/mypy examples/training-job/__main__.py

unit: install
	$(BIN)/python -m pytest

test: lint unit

# Previews need the Pulumi CLI, a backend login and (prod) AWS credentials.
preview-dev:
	pulumi preview -s dev --policy-pack policy

preview-prod:
	pulumi preview -s prod --policy-pack policy

# The Quick start on a new kind cluster, checked end to end, then destroyed (e2e/run.sh).
# Needs Docker, kind, kubectl, the Pulumi CLI and Python 3.11; it cannot run where there is no Docker.
e2e:
	bash e2e/run.sh

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
