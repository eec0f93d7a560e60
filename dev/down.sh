#!/usr/bin/env bash
# `make dev-down`: what `make dev` (dev/up.sh) made, removed: the dev stack's resources (`pulumi destroy`, when
# the stack exists), then the kind cluster `mlflow`. Safe to run again after a failure, or when nothing is left.
# The stack itself and its history stay in the backend (`pulumi stack rm dev` removes them).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "make dev-down: $*" >&2; }

missing=()
for tool in kind pulumi; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "missing ${missing[*]}"
  exit 1
fi

# The backend and passphrase dev/up.sh uses.
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  export PULUMI_CONFIG_PASSPHRASE=dev-only
fi
if [[ -z "${PULUMI_BACKEND_URL:-}" ]] && ! pulumi whoami >/dev/null 2>&1; then
  pulumi login --local
fi

# The stack's resources first, while the cluster is there (the dev stack's provider forgets the objects of a
# cluster that is already gone: deleteUnreachable). A backend that cannot list its stacks stops here, before
# the cluster is deleted under a stack that still holds it.
stacks=$(pulumi stack ls --json)
if grep -Eq '"name": *"([^"]*/)?dev"' <<<"$stacks"; then
  pulumi destroy -s dev --yes --skip-preview
else
  say "no stack dev: nothing to destroy"
fi
kind delete cluster --name mlflow
