"""Shared fixtures: each stack's program is run once under mocks and shared by the tests that read it."""

from typing import Any

import pytest

from harness import ProgramRun, Registration, run_program

pytest_plugins = ["runtime.fixtures"]

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NAMESPACE = "kubernetes:core/v1:Namespace"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_STRING = "random:index/randomString:RandomString"


@pytest.fixture(scope="session")
def dev() -> ProgramRun:
    return run_program("dev")


# The one prod value Pulumi.prod.yaml cannot hold: a secret encrypted with the user's own stack key.
# An Access application's AUD tag has the form Cloudflare gives it: 64 lower-case hex digits.
AUD_TAG = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
PROD_SECRETS = {"ssoClientSecret": {"secure": "v1:encrypted-by-the-stack-key"}}


@pytest.fixture(scope="session")
def prod() -> ProgramRun:
    return run_program("prod", PROD_SECRETS)


@pytest.fixture(scope="session", params=["dev", "prod"])
def each_stack(request: pytest.FixtureRequest, dev: ProgramRun, prod: ProgramRun) -> ProgramRun:
    return {"dev": dev, "prod": prod}[request.param]


# What a platform team sets on every pod (tests/components/test_pod_settings.py) and adds to the MLflow containers
# (tests/components/test_server_extensions.py).
NODE_SELECTOR = {"node-pool": "ml-platform"}
TOLERATIONS = [{"key": "dedicated", "operator": "Equal", "value": "ml-platform", "effect": "NoSchedule"}]
AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}}
POD_KEYS: dict[str, Any] = {
    "nodeSelector": NODE_SELECTOR,
    "tolerations": TOLERATIONS,
    "affinity": AFFINITY,
    "priorityClassName": "ml-platform-high",
    "imagePullSecrets": ["registry-mirror"],
    "podAnnotations": {"vault.hashicorp.com/agent-inject": "true"},
    "podLabels": {"team": "ml-platform"},
}
MIRRORS = {"ghcr.io": "harbor.example.com/ghcr", "quay.io": "harbor.example.com/quay",
           "docker.io": "harbor.example.com/dockerhub"}
EXTENSIONS: dict[str, Any] = {
    "serverJobExecution": True, "postgresMaxConnections": 1100,
    "serverEnv": {"MLFLOW_LOGGING_LEVEL": "DEBUG"},
    "serverEnvFrom": [{"secretRef": {"name": "team-llm-keys"}}, {"configMapRef": {"name": "team-settings"},
                                                                  "prefix": "TEAM_"}],
    "serverExtraVolumes": [{"name": "corp-ca", "configMap": {"name": "corp-ca-bundle"}}],
    "serverExtraVolumeMounts": [{"name": "corp-ca", "mountPath": "/etc/corp-ca", "readOnly": True}],
    "serverExtraArgs": ["--x-frame-options=DENY"],
    "serverSpreadTopologyKeys": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"],
    "serverSpreadWhenUnsatisfiable": "DoNotSchedule",
    "serverServiceAnnotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
}

# databaseMode sqlite: a volume instead of PostgreSQL, one server pod of one worker (monitored: no exporter).
MONITORED: dict[str, Any] = {"monitoringEnabled": True,
                             "monitoringRunbookUrl": "https://git.example.com/platform/mlflow-platform/docs/monitoring.md"}
"""Monitoring on, with the runbook URL it requires."""
SQLITE_STACK: dict[str, Any] = {"databaseMode": "sqlite", "serverWorkers": 1, **MONITORED}

# What the default stacks do not declare: the jobs pod, its Service and its NetworkPolicy; prod with teams; the
# Cloudflare tunnel's connectors; every extension point at once; SQLite's volume.
CLOUDFLARE_FRONT_DOOR = {**PROD_SECRETS, "frontDoor": "cloudflare", "ssoEnabled": False, "gatewayClassName": None,
                         "cloudflareTeamDomain": "acme.cloudflareaccess.com", "cloudflareAudienceTag": AUD_TAG,
                         "cloudflareTunnelToken": {"secure": "v1:tunnel"}}
OPTIONAL_OBJECTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev-with-jobs": ("dev", {"serverJobExecution": True, "postgresMaxConnections": 1100}),
    "prod-with-jobs-and-teams": ("prod", {**PROD_SECRETS, "serverJobExecution": True, "postgresMaxConnections": 2000,
                                          "authWorkspaces": {"vision": {"members": ["group:vision"]}},
                                          "gcSchedule": "0 4 * * *"}),
    "prod-with-cloudflare-tunnel": ("prod", CLOUDFLARE_FRONT_DOOR),
    "dev-with-every-extension": ("dev", {**EXTENSIONS, **POD_KEYS, "imageRegistryMirrors": MIRRORS,
                                         "gcSchedule": "0 4 * * *"}),
    "dev-on-sqlite": ("dev", SQLITE_STACK),
    # PgBouncer in front of RDS, its TLS verified with the CA, past the replicas the direct budget allows.
    "prod-with-pooler": ("prod", {**PROD_SECRETS, "databasePooler": True, "serverMaxReplicas": 6,
                                  "databaseCaSecret": "rds-ca"}),
}


@pytest.fixture(scope="module", params=["dev", "prod", *OPTIONAL_OBJECTS])
def any_stack(request: pytest.FixtureRequest, dev: ProgramRun, prod: ProgramRun) -> ProgramRun:
    """Every object any stack declares: both stacks, and the optional objects on top of them."""
    if request.param in OPTIONAL_OBJECTS:
        stack, overrides = OPTIONAL_OBJECTS[request.param]
        return run_program(stack, overrides)
    return dev if request.param == "dev" else prod


def pod_spec(workload: Registration) -> dict[str, Any]:
    spec: dict[str, Any] = workload.plain_inputs["spec"]["template"]["spec"]
    return spec


def container(workload: Registration, name: str | None = None) -> dict[str, Any]:
    """The pod's one container, or the one named `name` (an init container too)."""
    spec = pod_spec(workload)
    if name is None:
        assert len(spec["containers"]) == 1
        return dict(spec["containers"][0])
    return dict(next(c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == name))


def env_of(container_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container_spec.get("env", [])}


def mounted_secret_files(run: ProgramRun, workload: Registration,
                         container_name: str | None = None) -> dict[str, tuple[str, str]]:
    """Each file a container reads from a mounted Secret, by path: (the Secret's name, its key)."""
    volumes = {v["name"]: v["secret"] for v in pod_spec(workload).get("volumes", []) if "secret" in v}
    files = {}
    for mount in container(workload, container_name).get("volumeMounts", []):
        if volume := volumes.get(mount["name"]):
            assert mount.get("readOnly") is True
            keys = run.one(SECRET, volume["secretName"]).plain_inputs["stringData"]
            for item in volume.get("items") or [{"key": key, "path": key} for key in keys]:
                files[f"{mount['mountPath']}/{item['path']}"] = (volume["secretName"], item["key"])
    return files


def flag_value(container_spec: dict[str, Any], flag: str) -> str:
    values = [str(arg).split("=", 1)[1] for arg in container_spec.get("args", []) if str(arg).startswith(f"{flag}=")]
    assert len(values) == 1, f"{flag} given {len(values)} times"
    return values[0]


def component(run: ProgramRun, type_suffix: str) -> Registration:
    return run.one(f"mlflow-platform:index:{type_suffix}")
