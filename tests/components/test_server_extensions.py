"""What a team adds to the MLflow containers (mlflow_platform/mlflow_server/extensions.py): environment, envFrom,
volumes, flags; the replicas' spread; the Service's type and annotations. Each reaches the objects it should
(server, jobs pod, migration where it says so) and no other, and nothing replaces what the platform sets."""

from typing import Any

import pytest
from test_hostile_config import assert_refused, refusal

from conftest import DEPLOYMENT, EXTENSIONS, JOB, PDB, PROD_SECRETS, SERVICE, container, env_of, pod_spec
from harness import ProgramRun, run_program
from mlflow_platform.mlflow_server.extensions import PLATFORM_ENV, PLATFORM_PATHS, PLATFORM_VOLUMES


@pytest.fixture(scope="module")
def extended() -> ProgramRun:
    return run_program("dev", {**EXTENSIONS, "serverServiceType": "LoadBalancer", "networkPolicies": False})


def mlflow_containers(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """The containers that run MLflow: the server's, the jobs pod's and the migration's."""
    migration = run.of_type(JOB)[0] if len(run.of_type(JOB)) == 1 else next(
        job for job in run.of_type(JOB) if job.name.endswith("-migrate"))
    return {"server": container(run.one(DEPLOYMENT, "mlflow"), "mlflow"),
            "jobs": container(run.one(DEPLOYMENT, "mlflow-jobs")),
            "migration": container(migration, "migrate")}


def other_containers(run: ProgramRun) -> list[dict[str, Any]]:
    ours = {id(c) for c in mlflow_containers(run).values()}
    found = []
    for obj in run.kubernetes_objects():
        spec = obj.plain_inputs.get("spec") or {}
        spec = spec.get("jobTemplate", {}).get("spec", spec)
        for item in (spec.get("template") or {}).get("spec", {}).get("containers", []):
            if item["name"] not in ("mlflow", "migrate") and id(item) not in ours:
                found.append(item)
    return found


def test_extra_environment_reaches_the_mlflow_containers_only(extended: ProgramRun) -> None:
    for where, spec in mlflow_containers(extended).items():
        assert env_of(spec)["MLFLOW_LOGGING_LEVEL"] == {"name": "MLFLOW_LOGGING_LEVEL", "value": "DEBUG"}, where
    for other in other_containers(extended):
        assert "MLFLOW_LOGGING_LEVEL" not in env_of(other), other["name"]


def test_env_from_reaches_the_mlflow_containers_only(extended: ProgramRun) -> None:
    for where, spec in mlflow_containers(extended).items():
        assert spec["envFrom"] == EXTENSIONS["serverEnvFrom"], where
    for other in other_containers(extended):
        assert "envFrom" not in other, other["name"]


def test_volumes_reach_the_server_and_jobs_pods(extended: ProgramRun) -> None:
    for name in ("mlflow", "mlflow-jobs"):
        workload = extended.one(DEPLOYMENT, name)
        assert EXTENSIONS["serverExtraVolumes"][0] in pod_spec(workload)["volumes"]
        mlflow = next(c for c in pod_spec(workload)["containers"] if c["name"] == "mlflow")
        assert EXTENSIONS["serverExtraVolumeMounts"][0] in mlflow["volumeMounts"]
    for obj in extended.kubernetes_objects():
        if obj.kind in ("Deployment", "StatefulSet", "Job") and obj.name not in ("mlflow", "mlflow-jobs"):
            assert "corp-ca" not in str(obj.plain_inputs), obj.name


def test_extra_flags_follow_the_platforms_on_the_server_and_jobs_pods(extended: ProgramRun) -> None:
    containers = mlflow_containers(extended)
    for where in ("server", "jobs"):
        assert containers[where]["args"][-1] == "--x-frame-options=DENY", where
    assert "--x-frame-options=DENY" not in str(containers["migration"])


def test_spread_over_hosts_and_zones_for_the_server_only(extended: ProgramRun) -> None:
    constraints = pod_spec(extended.one(DEPLOYMENT, "mlflow"))["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["whenUnsatisfiable"], c["maxSkew"]) for c in constraints] == [
        ("kubernetes.io/hostname", "DoNotSchedule", 1), ("topology.kubernetes.io/zone", "DoNotSchedule", 1)]
    # One jobs pod (Recreate): spreading it would only leave it Pending.
    assert "topologySpreadConstraints" not in pod_spec(extended.one(DEPLOYMENT, "mlflow-jobs"))


def test_the_service_type_and_annotations_are_the_mlflow_services_only(extended: ProgramRun) -> None:
    service = extended.one(SERVICE, "mlflow").plain_inputs
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == EXTENSIONS["serverServiceAnnotations"]
    for other in extended.of_type(SERVICE):
        if other.name != "mlflow":
            # A Service without a type (the headless PostgreSQL one) is a ClusterIP one too.
            assert other.plain_inputs["spec"].get("type", "ClusterIP") == "ClusterIP", other.name
            assert "annotations" not in other.plain_inputs["metadata"], other.name


def test_defaults_render_what_was_rendered_before(dev: ProgramRun) -> None:
    server = container(dev.one(DEPLOYMENT, "mlflow"), "mlflow")
    assert "envFrom" not in server and not any(str(a).startswith("--x-") for a in server["args"])
    assert [c["topologyKey"] for c in pod_spec(dev.one(DEPLOYMENT, "mlflow"))["topologySpreadConstraints"]] == [
        "kubernetes.io/hostname"]
    assert dev.one(SERVICE, "mlflow").plain_inputs["spec"]["type"] == "ClusterIP"


def test_the_reserved_names_cover_everything_the_platform_sets(any_stack: ProgramRun) -> None:
    """A variable, volume or path the platform adds later must be reserved too, or a team's could replace it."""
    for workload in any_stack.kubernetes_objects():
        if workload.kind != "Deployment" and workload.kind != "Job":
            continue
        spec = pod_spec(workload)
        containers = [*spec.get("initContainers", []), *spec["containers"]]
        if not any(c["name"] in ("mlflow", "migrate", "migrate-auth") for c in containers):
            continue
        volumes = {v["name"] for v in spec.get("volumes", [])} - {v["name"] for v in EXTENSIONS["serverExtraVolumes"]}
        assert volumes <= set(PLATFORM_VOLUMES), workload.name
        for item in containers:
            added = set(env_of(item)) - set(EXTENSIONS["serverEnv"]) - PLATFORM_ENV
            assert not added, (workload.name, added)
            for mount in [m for m in item.get("volumeMounts", []) if m not in EXTENSIONS["serverExtraVolumeMounts"]]:
                assert any(mount["mountPath"] == p or mount["mountPath"].startswith(p + "/") for p in PLATFORM_PATHS), (
                    workload.name, mount["mountPath"])


REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"serverEnv": {"MLFLOW_BACKEND_STORE_URI": "sqlite:///x"}}, "serverEnv", "is set by the platform"),
    ({"serverEnv": {"HOME": "/"}}, "serverEnv", "HOME is set by the platform"),
    ({"serverEnv": {"1BAD NAME": "x"}}, "serverEnv", "is not an environment variable name"),
    ({"serverEnv": {"MLFLOW_X": 5}}, "serverEnv", "the value must be a string"),
    ({"serverEnvFrom": [{"secret": "keys"}]}, "serverEnvFrom", "is not {\"secretRef\""),
    ({"serverEnvFrom": [{"secretRef": {"name": "a"}, "configMapRef": {"name": "b"}}]}, "serverEnvFrom",
     "is not {\"secretRef\""),
    ({"serverExtraVolumes": [{"name": "host", "hostPath": {"path": "/"}}]}, "serverExtraVolumes",
     "restricted Pod Security Standard"),
    ({"serverExtraVolumes": [{"name": "tmp", "emptyDir": {}}]}, "serverExtraVolumes", "volume name 'tmp' is taken"),
    ({"serverExtraVolumes": [{"name": "x"}]}, "serverExtraVolumes", "exactly one source"),
    ({"serverExtraVolumes": [{"name": "x", "emptyDir": {}}], "serverExtraVolumeMounts": [
        {"name": "x", "mountPath": "/tmp/x"}]}, "serverExtraVolumes", "overlaps a path the platform mounts"),
    ({"serverExtraVolumeMounts": [{"name": "nope", "mountPath": "/data"}]}, "serverExtraVolumes",
     "which is not one of the extra volumes"),
    ({"serverExtraVolumes": [{"name": "x", "emptyDir": {}}], "serverExtraVolumeMounts": [
        {"name": "x", "mountPath": "data"}]}, "serverExtraVolumes", "needs an absolute mountPath"),
    ({"serverExtraArgs": ["--workers=8"]}, "serverExtraArgs", "--workers is not one you may add"),
    ({"serverExtraArgs": ["--backend-store-uri=sqlite:///x"]}, "serverExtraArgs", "is not one you may add"),
    ({"serverExtraArgs": ["--read-replica-backend-store-uri=postgresql://u:p@h/db"]}, "serverExtraArgs",
     "is not one you may add"),
    ({"serverExtraArgs": ["--secrets-cache-ttl", "60"]}, "serverExtraArgs", "is not --option or --option=value"),
    ({"serverExtraArgs": ["--x-frame-options=$(MLFLOW_BACKEND_STORE_URI)"]}, "serverExtraArgs",
     "is expanded by the kubelet"),
    ({"serverSpreadTopologyKeys": ["zone key"]}, "serverSpreadTopologyKeys", "is not a label or annotation key"),
    ({"serverSpreadWhenUnsatisfiable": "Never"}, "serverSpreadWhenUnsatisfiable", "is not allowed"),
    ({"serverServiceType": "ExternalName"}, "serverServiceType", "is not allowed"),
    ({"serverServiceType": "LoadBalancer"}, "serverServiceType", "the NetworkPolicies admit"),
    ({"serverServiceAnnotations": {"bad key!": "x"}}, "serverServiceAnnotations", "is not a label or annotation key"),
]


@pytest.mark.parametrize(("overrides", "key", "expected"), REFUSED, ids=[f"{k}-{e[:24]}" for _, k, e in REFUSED])
def test_bad_values_are_refused_at_preview_naming_the_key(overrides: dict[str, Any], key: str, expected: str) -> None:
    assert_refused("dev", overrides, key, expected)


def test_a_load_balancer_in_prod_needs_the_network_policies_opt_out_too() -> None:
    message = refusal("prod", {"serverServiceType": "LoadBalancer", "networkPolicies": False})
    assert "mlflow-platform:networkPolicies: " in message and "allowDisabledNetworkPolicies" in message


class TestDisruptionBudget:
    def test_the_budget_is_the_configured_one(self) -> None:
        run = run_program("dev", {"serverReplicas": 3, "serverDisruptionBudget": {"minAvailable": "50%"},
                                  "postgresMaxConnections": 1100})
        assert run.one(PDB, "mlflow").plain_inputs["spec"]["minAvailable"] == "50%"
        assert "maxUnavailable" not in run.one(PDB, "mlflow").plain_inputs["spec"]

    def test_autoscaling_from_one_replica_has_a_budget_too(self) -> None:
        run = run_program("dev", {"serverReplicas": 1, "serverAutoscaling": True, "postgresMaxConnections": 1100})
        assert run.one(PDB, "mlflow").plain_inputs["spec"]["maxUnavailable"] == 1

    def test_one_replica_without_autoscaling_has_none(self, dev: ProgramRun) -> None:
        assert [pdb.name for pdb in dev.of_type(PDB)] == []

    @pytest.mark.parametrize(("budget", "expected"), [
        ({"maxUnavailable": 0}, "lets no pod be evicted"),
        ({"minAvailable": 2}, "lets no pod be evicted"),
        ({"minAvailable": "100%"}, "lets no pod be evicted"),
        ({"maxUnavailable": 1, "minAvailable": 1}, "exactly one of"),
        ({"maxUnavailable": "150%"}, "is not a count"),
        ({"maxUnavailable": -1}, "is not a count"),
    ])
    def test_a_budget_that_blocks_drains_is_refused(self, budget: dict[str, Any], expected: str) -> None:
        assert_refused("dev", {"serverReplicas": 2, "serverDisruptionBudget": budget, "postgresMaxConnections": 1100},
                       "serverDisruptionBudget", expected)


class TestStaticPrefix:
    """serverStaticPrefix: MLflow's --static-prefix, and everything that reaches it following (the runtime proof is
    tests/runtime/test_static_prefix.py)."""

    @pytest.fixture(scope="class")
    def prod_prefixed(self) -> ProgramRun:
        # Not with the jobs pod, which Pulumi.prod.yaml runs (MLflow's job runner ignores the prefix).
        return run_program("prod", {**PROD_SECRETS, "serverStaticPrefix": "/tools/mlflow", "serverJobExecution": False})

    def test_the_server_probes_and_tracking_uri_follow_it(self, prod_prefixed: ProgramRun) -> None:
        server = container(prod_prefixed.one(DEPLOYMENT, "mlflow"), "mlflow")
        assert server["args"][server["args"].index("--static-prefix") + 1] == "/tools/mlflow"
        assert {server[probe]["httpGet"]["path"].split("/api")[0].removesuffix("/health")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe")} == {"/tools/mlflow"}
        assert prod_prefixed.stack_outputs["trackingUri"].endswith(":5000/tools/mlflow")
        assert prod_prefixed.stack_outputs["trackingUrl"] == "https://mlflow.example.com/tools/mlflow"

    def test_the_route_takes_only_the_prefix_and_oauth2_proxy_moves_under_it(self, prod_prefixed: ProgramRun) -> None:
        route = prod_prefixed.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").plain_inputs
        assert route["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/tools/mlflow"}}]
        # The ALB checks oauth2-proxy's pods directly, on /ping, which --proxy-prefix does not move.
        target_group = prod_prefixed.one("kubernetes:gateway.k8s.aws/v1:TargetGroupConfiguration").plain_inputs
        assert target_group["spec"]["defaultConfiguration"]["healthCheckConfig"]["healthCheckPath"] == "/ping"
        proxy = container(prod_prefixed.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))
        assert "--proxy-prefix=/tools/mlflow/oauth2" in proxy["args"]
        assert "--redirect-url=https://mlflow.example.com/tools/mlflow/oauth2/callback" in proxy["args"]
        assert "--api-route=^/tools/mlflow/(api|ajax-api)/" in proxy["args"]

    def test_without_a_prefix_nothing_moves(self, prod: ProgramRun) -> None:
        proxy = container(prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))
        assert not [a for a in proxy["args"] if str(a).startswith("--proxy-prefix")]
        assert "--static-prefix" not in container(prod.one(DEPLOYMENT, "mlflow"), "mlflow")["args"]

    @pytest.mark.parametrize(("overrides", "expected"), [
        ({"serverStaticPrefix": "mlflow"}, "is not a path like /mlflow"),
        ({"serverStaticPrefix": "/mlflow/"}, "is not a path like /mlflow"),
        ({"serverStaticPrefix": "/ml flow"}, "is not a path like /mlflow"),
        ({"serverStaticPrefix": "/mlflow", "serverJobExecution": True, "postgresMaxConnections": 1100},
         "MLflow points its job runner"),
    ])
    def test_refused(self, overrides: dict[str, Any], expected: str) -> None:
        assert_refused("dev", overrides, "serverStaticPrefix", expected)
