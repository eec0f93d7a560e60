#!/usr/bin/env bash
# `make dev`: the dev stack on a local kind cluster, from nothing or from wherever a previous run stopped.
#
#   1. the kind cluster `mlflow` (dev/kind.yaml), unless `kind get clusters` lists it already;
#   2. the manifests of dev/manifests.lock, each downloaded once into a cache outside the clone keyed by its
#      sha256 and refused if its bytes differ: the Gateway API CRDs, then NGINX Gateway Fabric;
#   3. NGF's NginxProxy told which node port serves the Gateway's port-80 listener (30080, the port
#      dev/kind.yaml maps to the host's port 80), NGF's controller rolled out and GatewayClass nginx Accepted;
#   4. `pulumi up -s dev` (a local backend in ~/.pulumi unless you are logged in to one already), which
#      declares the Gateway and the HTTPRoute, then the tracking URL.
#
# Every step converges (apply, waits on named objects that stay), so after a failure you run
# `make dev` again. Every kubectl call names the context kind-mlflow: no other cluster is touched.
# `make dev-down` (dev/down.sh) removes it all.
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=mlflow
context=kind-$cluster
lock=dev/manifests.lock
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mlflow-platform/manifests
# The Gateway's listener (the dev stack: Gateway mlflow, listener http, port 80) and the node port that serves
# it, which dev/kind.yaml maps to port 80 of your machine.
listener_port=80
node_port=30080

say() { echo "make dev: $*" >&2; }

missing=()
for tool in kind kubectl pulumi curl sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "missing ${missing[*]} (needed: Docker, kind v0.31.0, kubectl, the Pulumi CLI 3.x, curl, sha256sum)"
  exit 1
fi

k() { kubectl --context "$context" "$@"; }

# --- 1. The cluster --------------------------------------------------------------------------------------
clusters=$(kind get clusters)
if grep -qx "$cluster" <<<"$clusters"; then
  say "kind cluster $cluster exists"
else
  kind create cluster --config dev/kind.yaml
fi

# --- 2. The locked manifests: download, verify, apply ------------------------------------------------------
mkdir -p "$cache"
manifests=()
while read -r sha256 url; do
  [[ -z "$sha256" || "$sha256" == "#"* ]] && continue
  file=$cache/$sha256.yaml
  if [[ -f "$file" ]] && [[ "$(sha256sum <"$file")" == "$sha256  -" ]]; then
    manifests+=("$file")
    continue
  fi
  part=$(mktemp "$cache/.$sha256.XXXXXX")
  if ! curl -fsSL --retry 3 -o "$part" "$url"; then
    rm -f "$part"
    say "could not download $url"
    exit 1
  fi
  actual=$(sha256sum <"$part")
  actual=${actual%% *}
  if [[ "$actual" != "$sha256" ]]; then
    rm -f "$part"
    say "refused $url: its sha256 is $actual, $lock says $sha256"
    exit 1
  fi
  mv -f "$part" "$file"
  manifests+=("$file")
done <"$lock"
if [[ ${#manifests[@]} -lt 2 ]]; then
  say "$lock must name the CRDs, then NGINX Gateway Fabric's deployment manifest"
  exit 1
fi

# Every line but the last: CRDs (too large for client-side apply's last-applied annotation) and the Gateway
# API's admission policy. Their objects stay, so a re-run waits on the same names.
for file in "${manifests[@]:0:${#manifests[@]}-1}"; do
  k apply --server-side --force-conflicts -f "$file"
done
mapfile -t crds < <(awk '
  /^---/ { crd = 0 }
  /^kind: CustomResourceDefinition[ \t]*$/ { crd = 1 }
  crd && /^  name: / { gsub(/["\047]/, "", $2); print "crd/" $2; crd = 0 }
' "${manifests[@]:0:${#manifests[@]}-1}")
if [[ ${#crds[@]} -eq 0 ]]; then
  say "no CustomResourceDefinition in the manifests before the last line of $lock"
  exit 1
fi
k wait --for=condition=Established --timeout=120s "${crds[@]}"

# The last line: NGF's controller, GatewayClass nginx and the class's NginxProxy (service.type NodePort),
# applied as NGF's deploy/README.md says (`kubectl apply -f`; server-side apply is for its CRDs).
k apply -f "${manifests[-1]}"

# A fixed node port for the Gateway's port-80 listener: NginxProxy spec.kubernetes.service.nodePorts, a list of
# {port, listenerPort} (NGF v2.6.7: apis/v1alpha2/nginxproxy_types.go, ServiceSpec.NodePorts and NodePort;
# deploy/crds.yaml, nginxproxies v1alpha2; applied by internal/controller/provisioner/objects.go,
# buildServicePorts). NGF builds the data plane's Service from it when the dev stack declares the Gateway.
# A merge patch replaces the list whole; a re-run's client-side apply of deploy.yaml leaves it as it is (its
# three-way merge changes only fields of the last applied configuration, which has no nodePorts).
k -n nginx-gateway patch nginxproxy/nginx-gateway-proxy-config --type=merge \
  -p "{\"spec\":{\"kubernetes\":{\"service\":{\"nodePorts\":[{\"port\":$node_port,\"listenerPort\":$listener_port}]}}}}"
k -n nginx-gateway rollout status deployment/nginx-gateway --timeout=300s
k wait --for=condition=Accepted --timeout=120s gatewayclass/nginx

# --- 3. The dev stack -------------------------------------------------------------------------------------
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  export PULUMI_CONFIG_PASSPHRASE=dev-only # the dev stack's secrets are throwaway
fi
if [[ -z "${PULUMI_BACKEND_URL:-}" ]] && ! pulumi whoami >/dev/null 2>&1; then
  pulumi login --local
fi
pulumi install
pulumi stack select --create dev
pulumi up -s dev --yes
url=$(pulumi stack output trackingUrl -s dev)
say "MLflow is at $url (tear it all down with make dev-down)"
echo "$url"
