#!/usr/bin/env bash
# The README's Quick start on a new kind cluster, end to end, then what must hold, then teardown.
# Needs Docker, kind v0.31.0, kubectl, the Pulumi CLI 3.272.0 and Python 3.11. `make e2e` and
# .github/workflows/e2e-kind.yml run it; the project's own CI machines have no Docker and cannot.
# E2E_KEEP=1 keeps the cluster and the stack for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
# A local file backend: no Pulumi account, nothing outside $work.
export PULUMI_BACKEND_URL="file://$work/state" PULUMI_CONFIG_PASSPHRASE=dev-only
mkdir -p "$work/state"
port_forward=""

teardown() {
  status=$?
  [ -n "$port_forward" ] && kill "$port_forward" 2>/dev/null
  if [ "$status" -ne 0 ]; then
    kubectl -n mlflow get pods,jobs,pvc,ingress -o wide || true
    kubectl -n mlflow get events --sort-by=.lastTimestamp | tail -n 40 || true
  fi
  if [ -z "${E2E_KEEP:-}" ]; then
    pulumi destroy -s dev --yes --skip-preview || status=1
    kind delete cluster --name mlflow || true
  fi
  exit "$status"
}
trap teardown EXIT

# --- The Quick start, line for line (README.md; tests/test_engine_rules.py keeps the two equal) ---
kind create cluster --config dev/kind.yaml
kubectl apply -f https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.15.1/deploy/static/provider/kind/deploy.yaml
kubectl -n ingress-nginx wait --for=condition=complete job --all --timeout=300s
kubectl -n ingress-nginx rollout status deployment/ingress-nginx-controller --timeout=300s
pulumi install && pulumi stack select --create dev && pulumi up -s dev --yes

# --- Every Pod Ready and every Job Complete -----------------------------------------------
kubectl -n mlflow get pods,jobs -o wide
kubectl -n mlflow get pods,jobs -o json | python3 e2e/check_cluster.py

# --- The README's first run and the seed scenario, through the Ingress as a user's client -----
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -r e2e/requirements.txt
tracking_url=$(pulumi stack output trackingUrl -s dev)
(cd "$work" && MLFLOW_TRACKING_URI="$tracking_url" "$work/venv/bin/python" "$OLDPWD/examples/first_run.py")

# The bucket is checked as MLflow's scoped MinIO user sees it, through a port-forward.
kubectl -n mlflow port-forward svc/mlflow-artifacts 19000:9000 >/dev/null &
port_forward=$!
secret() { kubectl -n mlflow get secret mlflow-artifacts-mlflow-credentials -o "jsonpath={.data.$1}" | base64 -d; }
for _ in $(seq 1 30); do curl -fsS -o /dev/null http://127.0.0.1:19000/minio/health/live && break; sleep 1; done
MLFLOW_TRACKING_URI="$tracking_url" \
  ARTIFACTS_DESTINATION="$(pulumi stack output artifactsDestination -s dev)" \
  MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:19000 AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID="$(secret AWS_ACCESS_KEY_ID)" AWS_SECRET_ACCESS_KEY="$(secret AWS_SECRET_ACCESS_KEY)" \
  "$work/venv/bin/python" e2e/seed_scenario.py
echo "e2e: the dev stack came up on kind and served the first run and the seed scenario"
