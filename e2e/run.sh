#!/usr/bin/env bash
# `make dev` on a new kind cluster, end to end, then what must hold, then `make dev-down`.
# Needs Docker, kind v0.31.0, kubectl, the Pulumi CLI 3.272.0, make, curl and Python 3.11. `make e2e` and
# .github/workflows/e2e-kind.yml run it; the project's own CI machines have no Docker and cannot.
# E2E_KEEP=1 keeps the cluster and the stack for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

# A new cluster: make dev would reuse one, and the teardown deletes it. Checked before the trap is set.
if grep -qx mlflow <<<"$(kind get clusters)"; then
  echo "e2e: a kind cluster named mlflow exists already; make dev-down removes it" >&2
  exit 1
fi

work=$(mktemp -d)
# A local file backend: no Pulumi account, nothing outside $work (dev/up.sh logs in to nothing when
# PULUMI_BACKEND_URL is set, and dev/down.sh destroys the stack it finds there).
export PULUMI_BACKEND_URL="file://$work/state" PULUMI_CONFIG_PASSPHRASE=dev-only
mkdir -p "$work/state"
port_forward=""
k() { kubectl --context kind-mlflow "$@"; }

teardown() {
  status=$?
  [ -n "$port_forward" ] && kill "$port_forward" 2>/dev/null
  if [ "$status" -ne 0 ]; then
    k -n mlflow get pods,jobs,pvc,httproutes -o wide || true
    k -n nginx-gateway get pods,services,gateways -o wide || true
    k -n mlflow get events --sort-by=.lastTimestamp | tail -n 40 || true
  fi
  if [ -z "${E2E_KEEP:-}" ]; then
    make dev-down || status=1
  fi
  exit "$status"
}
trap teardown EXIT

# --- make dev (dev/up.sh: the kind cluster, the Gateway API and NGINX Gateway Fabric, then pulumi up -s dev) ---
make dev

# --- Every Pod Ready and every Job Complete -----------------------------------------------
k -n mlflow get pods,jobs -o wide
k -n mlflow get pods,jobs -o json | python3 e2e/check_cluster.py

# --- The README's first run and the seed scenario, through the Gateway as a user's client -----
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --require-hashes -r e2e/requirements.lock  # the lock: every file hash-checked
tracking_url=$(pulumi stack output trackingUrl -s dev)
# Port 80 of this machine: dev/kind.yaml's port mapping, NGF's node port, the Gateway and the HTTPRoute.
[ "$tracking_url" = http://mlflow.localtest.me ] || { echo "e2e: trackingUrl is $tracking_url" >&2; exit 1; }
(cd "$work" && MLFLOW_TRACKING_URI="$tracking_url" "$work/venv/bin/python" "$OLDPWD/examples/first_run.py")

# The bucket is checked as MLflow's scoped MinIO user sees it, through a port-forward.
k -n mlflow port-forward svc/mlflow-artifacts 19000:9000 >/dev/null &
port_forward=$!
secret() { k -n mlflow get secret mlflow-artifacts-mlflow-credentials -o "jsonpath={.data.$1}" | base64 -d; }
for _ in $(seq 1 30); do curl -fsS -o /dev/null http://127.0.0.1:19000/minio/health/live && break; sleep 1; done
MLFLOW_TRACKING_URI="$tracking_url" \
  ARTIFACTS_DESTINATION="$(pulumi stack output artifactsDestination -s dev)" \
  MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:19000 AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID="$(secret AWS_ACCESS_KEY_ID)" AWS_SECRET_ACCESS_KEY="$(secret AWS_SECRET_ACCESS_KEY)" \
  "$work/venv/bin/python" e2e/seed_scenario.py
echo "e2e: the dev stack came up on kind and served the first run and the seed scenario"
