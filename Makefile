# Common tasks. `make test` is the command CI runs (.ci/run) and the README names.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: test lint unit install lock component-package render image-env checkov-env ops-env old-mlflow-envs preview-dev preview-prod e2e dev dev-down clean

# Every environment is installed from its lock (requirements*.lock: every package pinned, with hashes; tools/lock.py),
# with hash checking. The image's Python environment (requirements-image.lock) lives outside the clone, keyed by the
# lock's content, so a clean checkout reuses it and a change to the lock builds a new one. The program's own ./venv is
# made by the Pulumi CLI (`pulumi install`, make dev) from requirements.txt, which names only requirements.lock: the
# same hash checking without the flag (docs/ci.md).
PIP_INSTALL = pip install --quiet --disable-pip-version-check --require-hashes
IMAGE_ENV ?= $(HOME)/.cache/mlflow-platform/image-env-$(shell sha256sum requirements-image.lock | cut -c1-16)

$(BIN)/.installed: requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_INSTALL) -r requirements-dev.lock
	touch $@

# Rewrite every lock from its requirements file (needs PyPI); review the diff. tests/test_locks.py checks they agree.
# The Pulumi programs' direct pins are in requirements.in (here and in examples/training-job/), since the CLI installs
# requirements.txt, which is only `-r requirements.lock`.
lock: $(BIN)/.installed
	PATH=$(BIN):$$PATH $(BIN)/python -m tools.lock

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

# A cached virtualenv made from a requirements file: $(1) its directory, $(2) the file. No file prerequisite on the
# targets below: the directory name is the file's hash (a fresh clone's newer mtime must not rebuild it).
define cached_venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/$(PIP_INSTALL) -r $(2)
	touch $(1)/.installed
endef

$(IMAGE_ENV)/.installed:
	$(call cached_venv,$(IMAGE_ENV),requirements-image.lock)

image-env: $(IMAGE_ENV)/.installed

# checkov in its own environment (it pins boto3 and more), cached and keyed the same way.
CHECKOV_ENV ?= $(HOME)/.cache/mlflow-platform/checkov-$(shell sha256sum requirements-checkov.lock | cut -c1-16)

$(CHECKOV_ENV)/.installed:
	$(call cached_venv,$(CHECKOV_ENV),requirements-checkov.lock)

checkov-env: $(CHECKOV_ENV)/.installed

# The AWS CLI the operators' scripts (ops/) use, for the runtime tests that run them; cached and keyed the same way.
OPS_ENV ?= $(HOME)/.cache/mlflow-platform/ops-env-$(shell sha256sum requirements-ops.lock | cut -c1-16)

$(OPS_ENV)/.installed:
	$(call cached_venv,$(OPS_ENV),requirements-ops.lock)

ops-env: $(OPS_ENV)/.installed

# The MLflow releases the upgrade tests start from, each in its own cached environment (tests/runtime/old_mlflow.py).
old-mlflow-envs: $(BIN)/.installed
	$(BIN)/python tests/runtime/old_mlflow.py

install: $(BIN)/.installed node_modules/.installed image-env checkov-env ops-env old-mlflow-envs

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	# The other programs: a run each, or their __main__ modules would clash.
	$(BIN)/mypy examples/training-job/__main__.py
	$(BIN)/mypy examples/python-platform/__main__.py
	$(BIN)/mypy provider/__main__.py

unit: install
	MLFLOW_PLATFORM_IMAGE_ENV=$(IMAGE_ENV) MLFLOW_PLATFORM_CHECKOV_ENV=$(CHECKOV_ENV) MLFLOW_PLATFORM_OPS_ENV=$(OPS_ENV) $(BIN)/python -m pytest

test: lint unit

# The components' inputs (mlflow_platform/inputs.py), the component package's schema (provider/schema.json) and the
# reference in docs/components.md, regenerated from the Args dataclasses; review the schema's diff (docs/components.md).
component-package: $(BIN)/.installed
	$(BIN)/python -m tools.component_inputs
	$(BIN)/python -m tools.component_schema

# Every object a stack declares, for review without a cluster, a cloud account or the Pulumi CLI (like helm template):
# render/<stack>/kubernetes.yaml and aws.md, secrets as placeholders (tools/render.py). The prod template's stack file
# holds no ssoClientSecret yet: it is rendered as a placeholder too.
STACK ?= dev
render: $(BIN)/.installed
	$(BIN)/python -m tools.render --stack $(STACK) $(if $(filter prod,$(STACK)),--secret ssoClientSecret)

# Previews need the Pulumi CLI, a backend login and (prod) AWS credentials.
preview-dev:
	pulumi preview -s dev --policy-pack policy

preview-prod:
	pulumi preview -s prod --policy-pack policy

# The dev stack on a local kind cluster, from nothing or from where a failed run stopped (dev/up.sh): the cluster,
# the Gateway API and NGINX Gateway Fabric from dev/manifests.lock, then `pulumi up -s dev`; it prints the URL.
# Needs Docker, kind, kubectl, the Pulumi CLI, curl and sha256sum. `make dev-down` removes the stack and the cluster.
dev:
	bash dev/up.sh

dev-down:
	bash dev/down.sh

# The Quick start on a new kind cluster, checked end to end, then destroyed (e2e/run.sh).
# Needs Docker, kind, kubectl, the Pulumi CLI and Python 3.11; it cannot run where there is no Docker.
e2e:
	bash e2e/run.sh

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
