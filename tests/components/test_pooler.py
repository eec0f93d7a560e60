"""databasePooler: PgBouncer between the server pods and PostgreSQL, and the connection budget that counts it.

tests/runtime/test_pooler.py runs the rendered config with Debian's pgbouncer under load."""

from typing import Any

import pytest

from conftest import DEPLOYMENT, JOB, PDB, PROD_SECRETS, SECRET, SERVICE, component, container, env_of, pod_spec
from harness import ProgramRun, is_secret, run_program
from mlflow_platform.mlflow_postgres import ConnectionPooler, ExternalDatabase, MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.pooler import POOLER_PORT, POOLER_UID, pgbouncer_ini, quoted, userlist
from mlflow_platform.mlflow_server.connection_budget import ConnectionBudget
from mlflow_platform.versions import PGBOUNCER_IMAGE
from settings import ConfigError

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
POOLED: dict[str, Any] = {"databasePooler": True, "serverReplicas": 6, "gcSchedule": "0 4 * * *"}


@pytest.fixture(scope="module")
def pooled() -> ProgramRun:
    return run_program("dev", POOLED)


@pytest.fixture(scope="module")
def pooled_prod() -> ProgramRun:
    # RDS with its CA: PgBouncer verifies the server as the pods did (verify-full).
    return run_program("prod", {**PROD_SECRETS, "databasePooler": True, "serverMaxReplicas": 6,
                                "databaseCaSecret": "rds-ca", "allowUnverifiedDatabaseTls": False})


def ini(run: ProgramRun) -> dict[str, str]:
    text = run.one(SECRET, "mlflow-postgres-pooler").plain_inputs["stringData"]["pgbouncer.ini"]
    return {key.strip(): value.strip() for key, _, value in
            (line.partition("=") for line in text.splitlines() if "=" in line and not line.startswith(";"))}


def test_the_pooler_is_a_deployment_service_secret_and_budget_under_the_database_component(pooled: ProgramRun) -> None:
    db = component(pooled, "MlflowPostgres")
    children = {(r.type, r.name) for r in pooled.children_of(db)}
    assert {(DEPLOYMENT, "mlflow-postgres-pooler"), (SERVICE, "mlflow-postgres-pooler"),
            (SECRET, "mlflow-postgres-pooler"), (PDB, "mlflow-postgres-pooler")} <= children
    assert (DEPLOYMENT, "mlflow-postgres-pooler") not in {(r.type, r.name) for r in run_program("dev").resources}


def test_pgbouncer_runs_pinned_hardened_and_as_its_own_process(pooled: ProgramRun) -> None:
    deployment = pooled.one(DEPLOYMENT, "mlflow-postgres-pooler")
    spec = deployment.plain_inputs["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pgbouncer = container(deployment)
    assert pgbouncer["image"] == PGBOUNCER_IMAGE and "@sha256:" in PGBOUNCER_IMAGE
    # Not the image's shell entrypoint, which would keep SIGTERM from pgbouncer.
    assert pgbouncer["command"] == ["/usr/bin/pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]
    assert pgbouncer["ports"] == [{"name": "pgbouncer", "containerPort": POOLER_PORT}]
    assert pgbouncer["securityContext"]["readOnlyRootFilesystem"] is True
    assert pgbouncer["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pgbouncer["resources"] == {"requests": {"cpu": "50m", "memory": "32Mi"},
                                      "limits": {"cpu": "1", "memory": "256Mi"}}
    pod = pod_spec(deployment)
    assert pod["securityContext"]["runAsUser"] == POOLER_UID == 10001 and pod["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["secret"]["secretName"] == "mlflow-postgres-pooler"
    assert volumes["config"]["secret"]["defaultMode"] == 0o440
    labels = spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "pgbouncer" and labels["app.kubernetes.io/component"] == "pooler"
    # A new password or database host rolls the pods: PgBouncer reads its files at start.
    assert len(spec["template"]["metadata"]["annotations"]["mlflow-platform/pooler-config"]) == 16


def test_workload_resources_size_the_pooler() -> None:
    run = run_program("dev", {**POOLED, "workloadResources": {"pooler": {"limits": {"memory": "512Mi"}}}})
    assert container(run.one(DEPLOYMENT, "mlflow-postgres-pooler"))["resources"]["limits"]["memory"] == "512Mi"


def test_config_pools_transactions_per_database_within_the_pool(pooled: ProgramRun) -> None:
    settings = ini(pooled)
    assert settings["pool_mode"] == "transaction"
    assert settings["default_pool_size"] == settings["max_db_connections"] == "20"
    assert settings["reserve_pool_size"] == settings["min_pool_size"] == "0"
    assert settings["auth_type"] == "scram-sha-256"
    assert settings["query_wait_timeout"] == "30"
    assert settings["mlflow"] == "host=mlflow-postgres.mlflow.svc.cluster.local port=5432 dbname=mlflow"
    assert settings["mlflow_auth"] == "host=mlflow-postgres.mlflow.svc.cluster.local port=5432 dbname=mlflow_auth"
    assert settings["unix_socket_dir"] == ""
    secret = pooled.one(SECRET, "mlflow-postgres-pooler")
    assert is_secret(secret.inputs["stringData"])
    assert secret.plain_inputs["stringData"]["userlist.txt"].startswith('"mlflow_app" "')


def test_pgbouncer_reaches_rds_with_the_tls_the_pods_used(pooled_prod: ProgramRun) -> None:
    settings = ini(pooled_prod)
    assert settings["server_tls_sslmode"] == "verify-full"
    assert settings["server_tls_ca_file"] == "/etc/mlflow-platform/database-ca/ca.crt"
    mounts = {m["mountPath"] for m in container(pooled_prod.one(DEPLOYMENT, "mlflow-postgres-pooler"))["volumeMounts"]}
    assert "/etc/mlflow-platform/database-ca" in mounts


def test_the_server_connects_to_the_pooler_and_the_migration_to_the_database(pooled: ProgramRun) -> None:
    uris = pooled.one(SECRET, "mlflow-postgres-uri").plain_inputs["stringData"]
    assert uris["uri"].endswith("@mlflow-postgres-pooler.mlflow.svc.cluster.local:6432/mlflow?sslmode=disable")
    assert uris["direct-uri"].endswith("@mlflow-postgres.mlflow.svc.cluster.local:5432/mlflow")
    assert env_of(container(pooled.one(DEPLOYMENT, "mlflow")))["MLFLOW_BACKEND_STORE_URI"]["valueFrom"][
        "secretKeyRef"] == {"name": "mlflow-postgres-uri", "key": "uri"}
    # With roles the Job migrates as the owner, whose URIs name the database itself.
    migrate = env_of(container(pooled.one(JOB, "mlflow-migrate"), "migrate"))
    assert migrate["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]["key"] == "owner-uri"
    owner = pooled.one(SECRET, "mlflow-postgres-roles").plain_inputs["stringData"]["owner-uri"]
    assert "@mlflow-postgres.mlflow.svc.cluster.local:5432/" in owner


def test_without_roles_the_migration_reads_the_direct_uris() -> None:
    """external without createsRoles: the Job connects as the same user as the server, so it takes direct-uri (and
    direct-auth-uri for the auth app's migration), never the pooler's."""
    run = run_program("dev", {"databasePooler": True, "databaseMode": "external", "externalDatabaseHost": "db.internal",
                              "externalDatabasePassword": {"secure": "v1:pw"}, "databaseCidr": "10.0.0.0/16",
                              "authEnabled": True, "authAllowBasicAuth": True})
    job = pod_spec(run.one(JOB, "mlflow-migrate"))
    steps = {c["name"]: env_of(c) for c in [*job.get("initContainers", []), *job["containers"]]}
    assert steps["migrate"]["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlflow-postgres-uri", "key": "direct-uri"}
    auth_steps = [env for env in steps.values() if "MLFLOW_AUTH_DATABASE_URI" in env]
    assert auth_steps and all(env["MLFLOW_AUTH_DATABASE_URI"]["valueFrom"]["secretKeyRef"]["key"] == "direct-auth-uri"
                              for env in auth_steps)
    uris = run.one(SECRET, "mlflow-postgres-uri").plain_inputs["stringData"]
    assert "@db.internal:5432/mlflow_auth?sslmode=require" in uris["direct-auth-uri"]
    assert ini(run)["server_tls_sslmode"] == "require"
    # The server's auth app goes through the pooler like the tracking store.
    auth_uri = run.one(SECRET, "mlflow-auth").plain_inputs["stringData"]["database-uri"]
    assert "@mlflow-postgres-pooler.mlflow.svc.cluster.local:6432/mlflow_auth" in auth_uri


def test_network_policies_put_the_pooler_between_the_pods_and_the_database(pooled: ProgramRun) -> None:
    policies = {p.k8s_name: p.plain_inputs["spec"] for p in pooled.of_type(NETWORK_POLICY)}
    pooler = policies["mlflow-network-pooler"]
    assert pooler["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "pgbouncer"
    (admitted,) = pooler["ingress"]
    assert admitted["ports"] == [{"protocol": "TCP", "port": POOLER_PORT}]
    assert {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in admitted["from"]} == {
        "tracking-server", "gc"}
    assert any(rule.get("ports") == [{"protocol": "TCP", "port": 5432}] for rule in pooler["egress"])
    for workload in ("server", "gc"):
        egress_ports = [rule.get("ports") for rule in policies[f"mlflow-network-{workload}"]["egress"]]
        assert [{"protocol": "TCP", "port": POOLER_PORT}] in egress_ports
        assert [{"protocol": "TCP", "port": 5432}] not in egress_ports
    postgres_clients = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                        for peer in policies["mlflow-network-postgres"]["ingress"][0]["from"]}
    assert postgres_clients == {"pooler", "migration", "backup"}


class TestBudget:
    def test_counts_the_poolers_connections_instead_of_the_pods_pools(self) -> None:
        direct = ConnectionBudget(max_replicas=6, workers=2, pool_size=5, max_overflow=36, job_execution=False, gc=True)
        pooled = ConnectionBudget(max_replicas=6, workers=2, pool_size=5, max_overflow=36, job_execution=False, gc=True,
                                  pooler=ConnectionPooler(replicas=2, pool_size=20))
        assert direct.total == 7 * (2 * 2 * 41 + 2) + 1 + 3 == 1166
        # (2 pods + 1 surging) x 20 x 2 databases, + the migration; gc goes through the pooler.
        assert pooled.total == 3 * 20 * 2 + 1 == 121
        assert pooled.fits(400) and not direct.fits(400)
        assert "the pooler's (2 + 1 during a rollout) pod(s) x pool 20 x 2 databases" in pooled.explain(100)
        assert pooled.pooled_clients == 7 * 166 + 3 and pooled.pooler_problem() is None

    def test_one_pooler_pod_must_accept_every_pool(self) -> None:
        budget = ConnectionBudget(max_replicas=6, workers=2, pool_size=5, max_overflow=36, job_execution=False,
                                  pooler=ConnectionPooler(max_client_connections=1000))
        assert "1162 connections" in (budget.pooler_problem() or "")

    def test_settings_let_replicas_past_the_direct_limit_through_the_pooler(self) -> None:
        with pytest.raises(ConfigError, match=r"postgresMaxConnections.*or set databasePooler true"):
            run_program("dev", {"serverReplicas": 6})
        assert run_program("dev", {"serverReplicas": 6, "databasePooler": True}).one(DEPLOYMENT, "mlflow")

    def test_settings_refuse_a_pool_beyond_max_connections(self) -> None:
        with pytest.raises(ConfigError, match=r"postgresMaxConnections.*pooler's \(3 \+ 1 during a rollout\) pod\(s\) "
                                              r"x pool 60 x 2 databases.*lower databasePoolerReplicas"):
            run_program("dev", {"databasePooler": True, "databasePoolerReplicas": 3, "databasePoolerPoolSize": 60})

    def test_settings_refuse_too_few_client_connections(self) -> None:
        with pytest.raises(ConfigError, match="databasePoolerMaxClientConnections: the server's pools may open"):
            run_program("dev", {"databasePooler": True, "serverReplicas": 12})


class TestRefusals:
    def test_mysql(self) -> None:
        with pytest.raises(ConfigError, match="databasePooler: is PgBouncer, which speaks PostgreSQL's protocol only"):
            run_program("dev", {"databasePooler": True, "databaseMode": "external", "externalDatabaseEngine": "mysql",
                                "externalDatabaseHost": "db.internal", "externalDatabasePassword": {"secure": "v1:pw"},
                                "databaseCidr": "10.0.0.0/16", "externalDatabaseSslMode": "prefer"})

    def test_sqlite(self) -> None:
        with pytest.raises(ConfigError, match=r"databasePooler: is for PostgreSQL: databaseMode sqlite"):
            run_program("dev", {"databasePooler": True, "databaseMode": "sqlite", "serverWorkers": 1})

    def test_uri_secret(self) -> None:
        with pytest.raises(ConfigError, match="databasePooler: needs the database password"):
            run_program("dev", {"databasePooler": True, "databaseMode": "external", "externalDatabaseHost": "db.internal",
                                "externalDatabaseUriSecret": "my-uri", "databaseCidr": "10.0.0.0/16"})

    @pytest.mark.parametrize(("external", "message"), [
        (ExternalDatabase(host="db.internal", password="pw", engine="mysql", ssl_mode="prefer"),
         "PgBouncer speaks PostgreSQL's protocol only"),
        (ExternalDatabase(host="db.internal", password="", uri_secret="my-uri"), "a pooler needs the password"),
    ])
    def test_args(self, external: ExternalDatabase, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            MlflowPostgresArgs(namespace="mlflow", mode="external", external=external, pooler=ConnectionPooler())
        with pytest.raises(ValueError, match="sqlite is a file"):
            MlflowPostgresArgs(namespace="mlflow", mode="sqlite", pooler=ConnectionPooler())
        with pytest.raises(ValueError, match=r"pooler\.pool_size must be between"):
            MlflowPostgresArgs(namespace="mlflow", pooler=ConnectionPooler(pool_size=0))


def test_rendering_quotes_the_userlist_and_names_each_database_once() -> None:
    assert quoted('pa"ss') == '"pa""ss"'
    assert userlist({"b": "2", "a": 'x"y'}) == '"a" "x""y"\n"b" "2"\n'
    text = pgbouncer_ini("db", 5432, ("mlflow", "mlflow_auth"), ConnectionPooler(pool_size=7), {"sslmode": "require"})
    assert text.count("dbname=") == 2 and "max_db_connections = 7" in text and "server_tls_sslmode = require" in text
