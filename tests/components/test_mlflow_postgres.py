"""MlflowPostgres (in-cluster): a hardened single-replica StatefulSet whose password and URI stay secret."""

import json
import re
from pathlib import Path

import pytest

from conftest import (
    CRONJOB,
    DEPLOYMENT,
    JOB,
    MONITORED,
    PVC,
    RANDOM_PASSWORD,
    SECRET,
    SERVICE,
    STATEFULSET,
    component,
    container,
    env_of,
    mounted_secret_files,
    pod_spec,
)
from harness import ProgramRun, is_secret, run_program
from mlflow_platform.mlflow_postgres import MlflowPostgresArgs
from mlflow_platform.versions import MLFLOW_IMAGE, MLFLOW_VERSION
from settings import ConfigError


def test_declares_statefulset_volume_service_and_secrets_under_the_component(dev: ProgramRun) -> None:
    db = component(dev, "MlflowPostgres")
    children = {(r.type, r.name) for r in dev.children_of(db)}
    assert children == {
        (STATEFULSET, "mlflow-postgres"),
        (PVC, "mlflow-postgres-data"),
        (SERVICE, "mlflow-postgres-headless"),
        (SECRET, "mlflow-postgres-credentials"),
        (SECRET, "mlflow-postgres-uri"),
        (SECRET, "mlflow-postgres-roles"),
        (RANDOM_PASSWORD, "mlflow-postgres-password"),
        (RANDOM_PASSWORD, "mlflow-postgres-app-password"),
        (RANDOM_PASSWORD, "mlflow-postgres-backup-password"),
        (CRONJOB, "mlflow-postgres-backup"),
    }


def test_statefulset_runs_pinned_postgres_with_explicit_max_connections(dev: ProgramRun) -> None:
    sts = dev.one(STATEFULSET, "mlflow-postgres")
    spec = sts.plain_inputs["spec"]
    assert spec["replicas"] == 1
    assert spec["serviceName"] == "mlflow-postgres"
    postgres = container(sts)
    assert postgres["image"] == "docker.io/library/postgres:17.7"
    settings = dict(arg.split("=", 1) for arg in postgres["args"][1::2])
    assert postgres["args"][::2] == ["-c"] * len(settings)
    # Tuned for MLflow (mlflow_postgres/tuning.py): the caches a quarter and a half of the 1Gi limit, SSD costs,
    # autovacuum for insert-only tables.
    assert settings == {"max_connections": "400", "shared_buffers": "256MB", "effective_cache_size": "512MB",
                        "maintenance_work_mem": "64MB", "work_mem": "16MB", "random_page_cost": "1.1",
                        "effective_io_concurrency": "200", "autovacuum_vacuum_scale_factor": "0.05",
                        "autovacuum_analyze_scale_factor": "0.02", "autovacuum_vacuum_insert_scale_factor": "0.05"}
    assert postgres["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert postgres[probe]["exec"]["command"][0] == "pg_isready"
        assert "--host=127.0.0.1" in postgres[probe]["exec"]["command"]


def test_passwords_reach_postgres_and_its_exporter_as_files_from_secrets(dev: ProgramRun) -> None:
    """POSTGRES_PASSWORD_FILE (the image's entrypoint, file_env): the owner's; DATA_SOURCE_PASS_FILE (postgres_exporter):
    the monitor role's, which is all the exporter may connect as."""
    monitored = run_program("dev", {**MONITORED})
    sts = monitored.one(STATEFULSET, "mlflow-postgres")
    for name, variable, source in (("postgresql", "POSTGRES_PASSWORD_FILE", ("mlflow-postgres-credentials", "password")),
                                   ("metrics", "DATA_SOURCE_PASS_FILE", ("mlflow-postgres-roles", "monitor-password"))):
        env = env_of(container(sts, name))
        assert not [e for e in env.values() if "valueFrom" in e]
        assert mounted_secret_files(monitored, sts, name)[env[variable]["value"]] == source
    assert env_of(container(sts, "metrics"))["DATA_SOURCE_USER"]["value"] == "mlflow_monitor"
    env = env_of(container(dev.one(STATEFULSET, "mlflow-postgres"), "postgresql"))
    assert env["PGDATA"]["value"].startswith("/var/lib/postgresql/data/")


def test_runs_as_the_postgres_user_with_a_read_only_root(dev: ProgramRun) -> None:
    sts = dev.one(STATEFULSET, "mlflow-postgres")
    assert pod_spec(sts)["securityContext"]["runAsUser"] == 999
    assert pod_spec(sts)["securityContext"]["fsGroup"] == 999
    assert container(sts)["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container(sts)["volumeMounts"]}
    assert {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"} <= mounts


def test_data_volume_has_the_configured_size_and_is_mounted(dev: ProgramRun) -> None:
    pvc = dev.one(PVC, "mlflow-postgres-data")
    assert pvc.plain_inputs["spec"]["resources"]["requests"]["storage"] == "2Gi"  # Pulumi.dev.yaml
    volumes = {v["name"]: v for v in pod_spec(dev.one(STATEFULSET, "mlflow-postgres"))["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "mlflow-postgres-data"


def test_data_volume_survives_destroy_when_data_is_protected(dev: ProgramRun) -> None:
    from harness import run_program

    assert dev.one(PVC, "mlflow-postgres-data").retain_on_delete is False  # Pulumi.dev.yaml: dataProtection false
    assert run_program("dev", {"dataProtection": True, "allowInClusterStoresInProd": True,
                        "allowPlaintextIngress": True, "allowEveryUserAsAdmin": True}).one(
        PVC, "mlflow-postgres-data").retain_on_delete is True


def test_storage_class_is_passed_when_configured() -> None:
    from harness import run_program

    run = run_program("dev", {"storageClass": "standard"})
    assert run.one(PVC, "mlflow-postgres-data").plain_inputs["spec"]["storageClassName"] == "standard"


def test_uri_secret_holds_a_psycopg2_uri_marked_secret(dev: ProgramRun) -> None:
    uri_secret = dev.one(SECRET, "mlflow-postgres-uri")
    assert is_secret(uri_secret.inputs["stringData"])
    uri = uri_secret.plain_inputs["stringData"]["uri"]
    assert uri.startswith("postgresql+psycopg2://mlflow_app:")  # the app role: MLflow's pods are not the owner
    assert uri.endswith("@mlflow-postgres.mlflow.svc.cluster.local:5432/mlflow")


def test_outputs_name_the_connection_and_keep_the_password_secret(dev: ProgramRun) -> None:
    db = component(dev, "MlflowPostgres")
    outputs = dev.component_outputs[db.urn]
    assert outputs["host"] == "mlflow-postgres.mlflow.svc.cluster.local"
    assert outputs["port"] == 5432
    assert outputs["database"] == "mlflow" and outputs["username"] == "mlflow_app"
    assert outputs["rolesSecretName"] == "mlflow-postgres-roles"
    assert outputs["roleNames"] == {"app": "mlflow_app", "backup": "mlflow_backup"}
    assert outputs["uriSecretName"] == "mlflow-postgres-uri" and outputs["uriSecretKey"] == "uri"
    assert is_secret(outputs["password"])


def test_password_is_generated_without_url_special_characters(dev: ProgramRun) -> None:
    password = dev.one(RANDOM_PASSWORD, "mlflow-postgres-password").plain_inputs
    assert password["length"] >= 32 and password["special"] is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mode", "mssql", "mode 'mssql' is not one of"),
        ("mode", "rds", "mode rds needs rds options"),
        ("mode", "external", "mode external needs the external database"),
        ("image", "postgres", "has no tag"),
        ("storage_size", "lots", "not a Kubernetes quantity"),
        ("max_connections", 5, "max_connections must be between"),
    ],
)
def test_args_refuse_invalid_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MlflowPostgresArgs(namespace="mlflow", **{field: value})  # type: ignore[arg-type]


class TestBackups:
    def cronjob(self, run: ProgramRun) -> dict:  # type: ignore[type-arg]
        spec: dict = run.one(CRONJOB, "mlflow-postgres-backup").plain_inputs["spec"]  # type: ignore[type-arg]
        return spec

    def test_daily_by_default_never_two_at_once(self, dev: ProgramRun) -> None:
        spec = self.cronjob(dev)
        assert spec["schedule"] == "0 3 * * *"
        assert spec["concurrencyPolicy"] == "Forbid"

    def test_dumps_the_tracking_and_auth_databases_in_custom_format_with_credentials_from_the_secret(
            self, dev: ProgramRun) -> None:
        """Run as declared by tests/runtime/test_reliability.py and test_teams.py (the auth database's restore)."""
        pod = self.cronjob(dev)["jobTemplate"]["spec"]["template"]["spec"]
        (dump,) = pod["initContainers"]
        assert dump["image"] == "docker.io/library/postgres:17.7"  # the client matches the server
        assert dump["command"][:2] == ["/bin/sh", "-c"]
        assert dump["command"][2].count("pg_dump --format=custom") == 2
        env = {e["name"]: e for e in dump["env"]}
        assert (env["PGDATABASE"]["value"], env["AUTH_PGDATABASE"]["value"]) == ("mlflow", "mlflow_auth")
        assert env["PGHOST"]["value"] == "mlflow-postgres.mlflow.svc.cluster.local"
        # The backup role: it reads every table and writes nothing.
        assert env["PGUSER"]["value"] == "mlflow_backup"
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-postgres-roles", "key": "backup-password"}
        # The grants stay in the dumps, so the roles find theirs after a restore.
        assert "--no-privileges" not in dump["command"][2] and "--no-owner" in dump["command"][2]

    def test_uploads_under_backups_with_the_write_only_credential(self, dev: ProgramRun) -> None:
        """boto3 in MLflow's image (already on the nodes; MinIO's mc is of an archived project), run as declared
        against an S3 server with the write-only user's policy by tests/runtime/test_teams.py."""
        pod = self.cronjob(dev)["jobTemplate"]["spec"]["template"]["spec"]
        (upload,) = pod["containers"]
        assert upload["image"] == MLFLOW_IMAGE
        assert upload["command"][:2] == ["python", "-c"]
        env = {e["name"]: e for e in upload["env"]}
        assert (env["BUCKET"]["value"], env["PREFIX"]["value"]) == ("mlflow-artifacts", "backups/")
        assert env["S3_ENDPOINT_URL"]["value"] == "http://mlflow-artifacts.mlflow.svc.cluster.local:9000"
        assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-artifacts-backup-credentials"
        assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-artifacts-backup-credentials"

    def test_the_upload_runs_in_the_stacks_mlflow_image(self) -> None:
        image = f"registry.example.com/mlflow/mlflow:v{MLFLOW_VERSION}-full"
        pod = self.cronjob(run_program("dev", {"mlflowImage": image}))["jobTemplate"]["spec"]["template"]["spec"]
        (upload,) = pod["containers"]
        assert upload["image"] == image

    def test_the_dump_script_passes_shellcheck_as_posix_sh(self, dev: ProgramRun, tmp_path: Path) -> None:
        """The postgres image's /bin/sh (dash) runs it: POSIX sh only."""
        from test_make_dev import shellcheck
        (dump,) = self.cronjob(dev)["jobTemplate"]["spec"]["template"]["spec"]["initContainers"]
        script = tmp_path / "dump.sh"
        script.write_text("#!/bin/sh\n" + dump["command"][2])
        result = shellcheck(script, shell="sh")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_schedule_from_config_and_off_switch(self) -> None:
        from harness import run_program

        assert self.cronjob(run_program("dev", {"backupSchedule": "30 1 * * 0"}))["schedule"] == "30 1 * * 0"
        assert not run_program("dev", {"backupsEnabled": False}).of_type(CRONJOB)

    def test_rds_needs_no_backup_job(self, prod: ProgramRun) -> None:
        assert not prod.of_type(CRONJOB)


USERS_URI = {"databaseMode": "external", "externalDatabaseHost": "pg.internal.example.com",
             "externalDatabaseUriSecret": "team-mlflow-db", "externalDatabaseSslMode": "prefer",
             "databaseCidr": "10.20.0.0/16"}


class TestTheUsersOwnUriSecret:
    """externalDatabaseUriSecret: the whole URI in a Secret the team keeps (as MLflow's chart's backendStoreUriFrom);
    the program never sees the password."""

    @pytest.fixture(scope="class")
    def run(self) -> ProgramRun:
        return run_program("dev", USERS_URI)

    def test_the_server_and_the_migration_read_it_and_no_uri_secret_is_made(self, run: ProgramRun) -> None:
        assert [s.k8s_name for s in run.of_type(SECRET) if s.k8s_name.endswith("-uri")] == []
        migration = container(run.one(JOB, "mlflow-migrate"))
        for spec in (container(run.one(DEPLOYMENT, "mlflow"), "mlflow"), migration):
            assert env_of(spec)["MLFLOW_BACKEND_STORE_URI"]["valueFrom"] == {
                "secretKeyRef": {"name": "team-mlflow-db", "key": "uri"}}

    def test_the_migration_is_told_which_tls_parameters_the_uri_must_carry(self, run: ProgramRun) -> None:
        migration = container(run.one(JOB, "mlflow-migrate"))
        assert json.loads(env_of(migration)["MLFLOW_PLATFORM_REQUIRED_URI_QUERY"]["value"]) == {"sslmode": "prefer"}
        ca = run_program("dev", {**USERS_URI, "externalDatabaseSslMode": "verify-full", "databaseCaSecret": "db-ca"})
        assert json.loads(env_of(container(ca.one(JOB, "mlflow-migrate")))["MLFLOW_PLATFORM_REQUIRED_URI_QUERY"][
            "value"]) == {"sslmode": "verify-full", "sslrootcert": "/etc/mlflow-platform/database-ca/ca.crt"}

    def test_a_generated_uri_needs_no_check(self, dev: ProgramRun) -> None:
        assert "MLFLOW_PLATFORM_REQUIRED_URI_QUERY" not in env_of(container(dev.one(JOB, "mlflow-migrate")))

    @pytest.mark.parametrize(("overrides", "key", "expected"), [
        ({"externalDatabasePassword": {"secure": "v1:x"}}, "externalDatabaseUriSecret", "keep one"),
        ({"externalDatabaseUriSecret": None}, "externalDatabasePassword", "unless externalDatabaseUriSecret"),
        ({"externalDatabaseUriSecret": "Team DB"}, "externalDatabaseUriSecret", "is not a DNS subdomain"),
        ({"authEnabled": True, "ssoEnabled": True}, "authEnabled", "with externalDatabaseUriSecret it has none"),
    ])
    def test_refused(self, overrides: dict[str, object], key: str, expected: str) -> None:
        with pytest.raises(ConfigError) as caught:
            run_program("dev", {**USERS_URI, **overrides})
        assert f"mlflow-platform:{key}: " in str(caught.value) and expected in str(caught.value), str(caught.value)


# An external PostgreSQL, its password a secret, reached from the cluster's VPC.
EXTERNAL = {"databaseMode": "external", "externalDatabaseHost": "pg.internal",
            "externalDatabasePassword": {"secure": "v1:encrypted"}, "databaseCidr": "10.0.0.0/16"}


class TestRoles:
    """Who connects as what (mlflow_postgres/roles.py); tests/runtime/test_database_roles.py runs the grants."""

    def test_a_new_password_is_a_new_revision(self) -> None:
        from mlflow_platform.mlflow_postgres.roles import revision_of

        assert revision_of(["a" * 32, "b" * 32]) != revision_of(["a" * 32, "c" * 32])
        assert revision_of(["a" * 32]) == revision_of(["a" * 32])

    @pytest.mark.parametrize(("mode_config", "kinds"), [
        ({}, {"app", "backup"}),
        ({**MONITORED}, {"app", "monitor", "backup"}),
        ({"backupsEnabled": False}, {"app"}),
    ])
    def test_in_cluster_the_exporter_and_the_backup_get_roles_of_their_own(
            self, mode_config: dict[str, object], kinds: set[str]) -> None:
        outputs = (run := run_program("dev", mode_config)).component_outputs[component(run, "MlflowPostgres").urn]
        assert set(outputs["roleNames"]) == kinds
        assert {key for key in run.one(SECRET, "mlflow-postgres-roles").plain_inputs["stringData"]} == {
            "owner-uri", "owner-auth-uri", *(f"{kind}-password" for kind in kinds)}

    @pytest.mark.parametrize(("config", "user"), [
        (EXTERNAL, "mlflow"),
        ({**EXTERNAL, "externalDatabaseCreatesRoles": True}, "mlflow_app"),
    ])
    def test_an_external_server_gets_roles_only_when_its_user_may_create_them(
            self, config: dict[str, object], user: str) -> None:
        run = run_program("dev", config)
        assert run.one(SECRET, "mlflow-postgres-uri").plain_inputs["stringData"]["uri"].startswith(
            f"postgresql+psycopg2://{user}:")
        assert bool(run.of_type(SECRET) and [s for s in run.of_type(SECRET) if s.name == "mlflow-postgres-roles"]) == (
            user == "mlflow_app")

    @pytest.mark.parametrize(("config", "message"), [
        ({"externalDatabaseEngine": "mysql"}, "is for PostgreSQL with externalDatabasePassword"),
        ({"externalDatabaseUriSecret": "my-uri", "externalDatabasePassword": None}, "is for PostgreSQL with"),
    ])
    def test_roles_on_an_external_server_need_postgresql_and_its_password(
            self, config: dict[str, object], message: str) -> None:
        base = {**EXTERNAL, "externalDatabaseCreatesRoles": True}
        given = {key: value for key, value in {**base, **config}.items() if value is not None}
        with pytest.raises(ConfigError, match=f"mlflow-platform:externalDatabaseCreatesRoles: {message}"):
            run_program("dev", given)

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("username", "MLflow", "must be lower-case letters, digits and '_'"),
        ("username", "x" * 57, "at most 55 (the roles' names add up to 8)"),
        ("username", "pg_mlflow", "starts with pg_"),
        ("database", "ml-flow", "must be lower-case letters"),
        ("database", "d" * 64, "at most 63"),
    ])
    def test_names_follow_postgresqls_identifier_rule(self, field: str, value: str, message: str) -> None:
        with pytest.raises(ValueError, match=f"{field}: .*{re.escape(message)}"):
            MlflowPostgresArgs(namespace="mlflow", **{field: value})  # type: ignore[arg-type]


def test_postgres_caches_follow_the_pods_memory_limit() -> None:
    run = run_program("dev", {"postgresMemoryRequest": "4Gi", "postgresMemoryLimit": "8Gi"})
    args = container(run.one(STATEFULSET, "mlflow-postgres"))["args"]
    assert {"shared_buffers=2048MB", "effective_cache_size=4096MB", "maintenance_work_mem=512MB"} <= set(args)
