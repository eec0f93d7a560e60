"""databaseMode sqlite: MLflow's database as one file on a ReadWriteOnce volume, for throwaway stacks on the smallest
clusters. What is declared (the claim, its mounts, Recreate, the URI), what is not (PostgreSQL, the budget, database
egress), and every combination refused at preview (tests/runtime/test_sqlite.py runs it)."""

from typing import Any

import pytest

from conftest import (
    CRONJOB,
    DEPLOYMENT,
    HPA,
    JOB,
    PDB,
    PROD_SECRETS,
    PVC,
    RANDOM_PASSWORD,
    SECRET,
    SERVICE,
    SQLITE_STACK,
    STATEFULSET,
    component,
    container,
    env_of,
    pod_spec,
)
from harness import ProgramRun, is_secret, run_program
from mlflow_platform.mlflow_postgres import SQLITE_DIR
from mlflow_platform.mlflow_server import MlflowServerArgs
from settings import ConfigError

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_MONITOR_TYPE = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
URI = "sqlite:////var/lib/mlflow/mlflow.db"


@pytest.fixture(scope="module")
def sqlite() -> ProgramRun:
    return run_program("dev", SQLITE_STACK)


def refusal(stack: str, overrides: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        run_program(stack, {**(PROD_SECRETS if stack == "prod" else {}), "databaseMode": "sqlite", **overrides},
                    preview=True)
    return str(caught.value)


def database_mount(run: ProgramRun, type_token: str, name: str, container_name: str) -> tuple[dict[str, Any], str]:
    """The mount at SQLITE_DIR and the claim its volume names."""
    workload = run.one(type_token, name)
    pod = pod_spec(workload)
    every = [*pod.get("initContainers", []), *pod["containers"]]
    (mount,) = [m for c in every if c["name"] == container_name for m in c["volumeMounts"] if m["mountPath"] == SQLITE_DIR]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return mount, volume["persistentVolumeClaim"]["claimName"]


class TestDeclared:
    def test_the_component_holds_a_claim_and_the_uri_secret_only(self, sqlite: ProgramRun) -> None:
        children = {(r.type, r.name) for r in sqlite.children_of(component(sqlite, "MlflowPostgres"))}
        assert children == {(PVC, "mlflow-postgres-sqlite"), (SECRET, "mlflow-postgres-uri")}

    def test_no_postgresql_anywhere(self, sqlite: ProgramRun) -> None:
        assert not sqlite.of_type(STATEFULSET) and not sqlite.of_type(CRONJOB) and not sqlite.of_type(HPA)
        assert not sqlite.of_type(PDB)
        assert [s.name for s in sqlite.of_type(SERVICE)] == ["mlflow", "mlflow-artifacts"]
        assert not [p for p in sqlite.of_type(RANDOM_PASSWORD) if p.name.startswith("mlflow-postgres")]
        assert [m.name for m in sqlite.of_type(SERVICE_MONITOR_TYPE)] == ["mlflow-monitoring-mlflow"]

    def test_a_read_write_once_claim_of_the_configured_size_and_class(self, sqlite: ProgramRun) -> None:
        claim = sqlite.one(PVC, "mlflow-postgres-sqlite")
        assert claim.plain_inputs["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        assert claim.plain_inputs["metadata"]["labels"]["app.kubernetes.io/name"] == "sqlite"
        assert claim.retain_on_delete is False  # dataProtection false: the only way sqlite is allowed
        sized = run_program("dev", {**SQLITE_STACK, "sqliteStorageSize": "5Gi", "storageClass": "local-path"})
        assert sized.one(PVC, "mlflow-postgres-sqlite").plain_inputs["spec"]["resources"]["requests"]["storage"] == "5Gi"
        assert sized.one(PVC, "mlflow-postgres-sqlite").plain_inputs["spec"]["storageClassName"] == "local-path"

    def test_the_uri_names_the_file_on_the_volume_through_the_secret(self, sqlite: ProgramRun) -> None:
        secret = sqlite.one(SECRET, "mlflow-postgres-uri")
        assert is_secret(secret.inputs["stringData"])
        assert secret.plain_inputs["stringData"] == {"uri": URI}
        assert f"sqlite:///{SQLITE_DIR}/mlflow.db" == URI
        for spec in (container(sqlite.one(DEPLOYMENT, "mlflow"), "mlflow"), container(sqlite.one(JOB, "mlflow-migrate"))):
            assert env_of(spec)["MLFLOW_BACKEND_STORE_URI"]["valueFrom"] == {
                "secretKeyRef": {"name": "mlflow-postgres-uri", "key": "uri"}}
        assert sqlite.stack_outputs["databaseEndpoint"] == URI

    def test_the_server_and_the_migration_mount_the_claim_and_nothing_else_does(self, sqlite: ProgramRun) -> None:
        assert database_mount(sqlite, DEPLOYMENT, "mlflow", "mlflow") == (
            {"name": "database", "mountPath": SQLITE_DIR}, "mlflow-postgres-sqlite")
        assert database_mount(sqlite, JOB, "mlflow-migrate", "migrate") == (
            {"name": "database", "mountPath": SQLITE_DIR}, "mlflow-postgres-sqlite")
        claims = [(w.name, v["persistentVolumeClaim"]["claimName"]) for w in sqlite.kubernetes_objects()
                  if w.kind in ("Deployment", "Job") for v in pod_spec(w).get("volumes", []) if "persistentVolumeClaim" in v]
        assert sorted(claims) == [("mlflow", "mlflow-postgres-sqlite"), ("mlflow-artifacts", "mlflow-artifacts-data"),
                                  ("mlflow-migrate", "mlflow-postgres-sqlite")]

    def test_the_pods_that_write_it_are_mlflows_uid_with_that_fs_group(self, sqlite: ProgramRun) -> None:
        """fsGroup makes the volume's root group-writable for the uid the containers run as (hardening.py)."""
        for workload in (sqlite.one(DEPLOYMENT, "mlflow"), sqlite.one(JOB, "mlflow-migrate")):
            context = pod_spec(workload)["securityContext"]
            assert context["runAsUser"] == context["runAsGroup"] == context["fsGroup"] == 10001
            assert context["fsGroupChangePolicy"] == "OnRootMismatch"

    def test_one_pod_of_one_worker_replaced_by_recreate(self, sqlite: ProgramRun, dev: ProgramRun) -> None:
        spec = sqlite.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "Recreate"}
        args = container(sqlite.one(DEPLOYMENT, "mlflow"), "mlflow")["args"]
        assert args[args.index("--workers") + 1] == "1"
        # Every other mode keeps its surge rollout.
        assert dev.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["strategy"]["type"] == "RollingUpdate"

    def test_no_database_egress_and_no_postgres_policy(self, sqlite: ProgramRun) -> None:
        policies = {p.name: p.plain_inputs["spec"] for p in sqlite.of_type(POLICY)}
        assert "mlflow-network-postgres" not in policies
        assert policies["mlflow-network-migration"]["egress"] == [r for r in policies["mlflow-network-migration"]["egress"]
                                                                  if r["ports"][0]["port"] == 53]
        ports = {p["port"] for rule in policies["mlflow-network-server"]["egress"] for p in rule["ports"]}
        assert 5432 not in ports and ports == {53, 9000}  # DNS and MinIO

    def test_the_connection_budget_does_not_apply(self) -> None:
        """The lowest postgresMaxConnections refuses dev's in-cluster PostgreSQL (85 connections), not a file."""
        run_program("dev", {**SQLITE_STACK, "postgresMaxConnections": 20}, preview=True)
        with pytest.raises(ConfigError, match="postgresMaxConnections: the MLflow server may open more connections"):
            run_program("dev", {"serverWorkers": 1, "postgresMaxConnections": 20}, preview=True)

    def test_a_team_volume_cannot_take_the_databases_path(self) -> None:
        message = refusal("dev", {"serverWorkers": 1, "serverExtraVolumes": [{"name": "x", "emptyDir": {}}],
                                  "serverExtraVolumeMounts": [{"name": "x", "mountPath": f"{SQLITE_DIR}/extra"}]})
        assert "mlflow-platform:serverExtraVolumes: " in message and "overlaps a path the platform mounts" in message


class TestRefused:
    @pytest.mark.parametrize(("overrides", "key", "expected"), [
        ({"serverReplicas": 2}, "serverReplicas", "2 pods cannot share databaseMode sqlite's volume"),
        ({"serverAutoscaling": True}, "serverAutoscaling", "adds pods, which cannot mount databaseMode sqlite's"),
        ({"dataProtection": True}, "dataProtection", "databaseMode sqlite is for throwaway stacks only"),
        ({"authEnabled": True, "authAllowBasicAuth": True}, "authEnabled", "MLflow's auth app is for shared stacks"),
        ({"serverJobExecution": True}, "serverJobExecution", "the jobs pod is a second pod"),
        ({"serverWorkers": 2}, "serverWorkers", "2 worker processes would each open the SQLite file"),
        ({"databaseCaSecret": "db-ca"}, "databaseCaSecret", "is for a database outside the cluster (rds, external): sqlite"),
        ({"externalDatabaseEngine": "mysql"}, "externalDatabaseEngine", "mysql is for databaseMode external; sqlite "
                                                                        "runs SQLite"),
    ], ids=["serverReplicas", "serverAutoscaling", "dataProtection", "authEnabled", "serverJobExecution",
            "serverWorkers", "databaseCaSecret", "externalDatabaseEngine"])
    def test_each_naming_its_key(self, overrides: dict[str, Any], key: str, expected: str) -> None:
        message = refusal("dev", {"serverWorkers": 1, **overrides})
        assert f"mlflow-platform:{key}: {expected}" in message, message

    def test_prod_is_refused_with_every_problem_at_once(self) -> None:
        """Pulumi.prod.yaml keeps data, runs 2 replicas with autoscaling and the auth app, and the default 2 workers."""
        message = refusal("prod", {"serverJobExecution": True})
        for key in ("dataProtection", "serverReplicas", "serverAutoscaling", "authEnabled", "serverWorkers",
                    "serverJobExecution"):
            assert f"mlflow-platform:{key}: " in message, (key, message)
        assert "throwaway stacks only" in message
        assert "postgresMaxConnections" not in message

    def test_the_server_args_refuse_it_too(self) -> None:
        for overrides, expected in (({"replicas": 2}, "replicas 1"), ({"workers": 2}, "workers 1"),
                                    ({"job_execution": True}, "jobs pod")):
            with pytest.raises(ValueError, match=expected):
                MlflowServerArgs(namespace="mlflow", backend_uri_secret_name="uri", artifacts_destination="s3://b/",
                                 database_volume_claim="claim", **{"workers": 1, **overrides})  # type: ignore[arg-type]
