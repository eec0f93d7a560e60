"""A wrong or missing config value fails the program (so `pulumi preview`) with the key and what is allowed."""

from typing import Any

import pulumi
import pytest

from conftest import MONITORED
from harness import CLUSTER_OUTPUTS, run_program
from settings import ConfigError
from tools.project_config import ProjectConfigError


def preview_error(overrides: dict[str, Any], stack: str = "dev", skip_config_validation: bool = False) -> str:
    with pytest.raises(ConfigError) as caught:
        run_program(stack, overrides, preview=True, skip_config_validation=skip_config_validation)
    return str(caught.value)


WRONG_TYPES = [
    ({"serverReplicas": "two"}, "serverReplicas", "'two' is not an integer", "integer"),
    ({"serverMetrics": "yes"}, "serverMetrics", "'yes' is not a boolean; use true or false", "boolean"),
    ({"serverExtraAllowedHosts": "mlflow.example.com"}, "serverExtraAllowedHosts",
     "'mlflow.example.com' is not a list of strings", "array<string>"),
]


@pytest.mark.parametrize(("overrides", "key", "expected", "declared"), WRONG_TYPES)
def test_a_value_of_the_wrong_type_is_refused_by_the_cli_before_the_program(
        overrides: dict[str, Any], key: str, expected: str, declared: str) -> None:
    with pytest.raises(ProjectConfigError) as caught:
        run_program("dev", overrides, preview=True)
    assert f"Stack 'dev' with configuration key '{key}' must be of type '{declared}'" in str(caught.value)


@pytest.mark.parametrize(("overrides", "key", "expected", "declared"), WRONG_TYPES)
def test_the_program_refuses_wrong_types_too_when_the_cli_skips_its_checks(
        overrides: dict[str, Any], key: str, expected: str, declared: str) -> None:
    """`pulumi preview --skip-config-validation` passes any value through."""
    assert f"mlflow-platform:{key}: {expected}" in preview_error(overrides, skip_config_validation=True)


def test_a_misspelt_key_is_refused_with_the_closest_declared_one() -> None:
    """The CLI lets any key of the project through (pulumi/pulumi config_project_test.go,
    TestUntypedStackConfigValuesDoNeedProjectDeclaration): without this the typo would be ignored."""
    message = preview_error({"serverReplica": 2})
    assert "mlflow-platform:serverReplica: is not a key of this project; did you mean serverReplicas?" in message


def test_other_namespaces_are_not_ours_to_refuse() -> None:
    run_program("dev", {"kubernetes:enableServerSideApply": "true"}, preview=True)


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"serverReplicas": 0}, "serverReplicas", "0 is out of range; allowed: 1 to 50"),
        ({"artifactBackend": "gcs"}, "artifactBackend", "'gcs' is not allowed; use one of: minio, s3, s3-compatible"),
        ({"databaseMode": "mssql"}, "databaseMode", "'mssql' is not allowed; use one of: in-cluster, rds, external, sqlite"),
        ({"artifactPrefix": "/mlflow"}, "artifactPrefix", "'/mlflow' is not a key prefix like mlflow/"),
        ({"mlflowImage": "ghcr.io/mlflow/mlflow"}, "mlflowImage", "'ghcr.io/mlflow/mlflow' has no tag"),
        ({"postgresImage": "postgres:latest"}, "postgresImage", "'postgres:latest' uses a floating tag"),
        ({"minioImage": "localhost:5000/minio"}, "minioImage", "'localhost:5000/minio' has no tag"),
        ({"postgresStorageSize": "10 gigs"}, "postgresStorageSize", "'10 gigs' is not a Kubernetes quantity"),
        ({"serverTmpSize": "4GB"}, "serverTmpSize", "'4GB' is not a Kubernetes quantity"),
        # Several workers need uvloop (TCP_NODELAY), which only the -full images have (uvicorn#3149).
        ({"serverWorkers": 2, "mlflowImage": "ghcr.io/mlflow/mlflow:v3.17.2"}, "serverWorkers",
         "2 workers need uvloop, which only the -full images have"),
        # The default of 2 workers with an image pinned by digest alone: nothing says it is a -full image.
        ({"mlflowImage": "registry.example.com/mlflow@sha256:" + "a" * 64}, "serverWorkers",
         "2 workers need uvloop, which only the -full images have"),
        ({"namespace": "ML_flow"}, "namespace", "'ML_flow' must be lower-case letters"),
        ({"artifactBucket": "My_Bucket"}, "artifactBucket", "'My_Bucket' is not a valid S3 bucket name"),
        ({"dbMaxOverflow": 0}, "dbMaxOverflow", "0 is out of range; allowed: 1 to 100"),
        ({"serverExtraAllowedHosts": ["a b"]}, "serverExtraAllowedHosts", "'a b' is not a host name"),
        ({"serverCpuRequest": "4", "serverCpuLimit": "2"}, "serverCpuRequest", "cpu request 4 is above its limit 2"),
        ({"serverAutoscaling": True, "serverReplicas": 5, "serverMaxReplicas": 3}, "serverMaxReplicas",
         "3 is below serverReplicas (5)"),
        ({"backupRetentionDays": 0}, "backupRetentionDays", "0 is out of range; allowed: 1 to 3650"),
        ({"backupSchedule": "daily"}, "backupSchedule", "'daily' is not a cron schedule Kubernetes accepts"),
        ({"artifactBackend": "s3", "artifactBucket": "acme-mlflow-dev", "awsRegion": "us-east-1",
          "oidcProviderArn": CLUSTER_OUTPUTS["oidcProviderArn"], "oidcIssuerUrl": CLUSTER_OUTPUTS["oidcIssuerUrl"]},
         "backupsEnabled",
         "in-cluster backups are written to the MinIO bucket, and artifactBackend is 's3'"),
    ],
)
def test_bad_value_fails_naming_the_key_and_what_is_allowed(overrides: dict[str, Any], key: str, expected: str) -> None:
    assert f"mlflow-platform:{key}: {expected}" in preview_error(overrides)


def test_every_problem_is_reported_at_once() -> None:
    message = preview_error({"serverReplicas": 0, "artifactBackend": "gcs", "postgresStorageSize": "big"})
    for key in ("serverReplicas", "artifactBackend", "postgresStorageSize"):
        assert f"mlflow-platform:{key}" in message


def test_config_error_is_a_clean_pulumi_error() -> None:
    # RunError: the CLI prints the message without a Python traceback.
    assert issubclass(ConfigError, pulumi.RunError)


class TestConnectionBudget:
    def test_pools_above_max_connections_are_refused_with_the_arithmetic(self) -> None:
        message = preview_error({"serverWorkers": 8, "postgresMaxConnections": 50})
        assert "mlflow-platform:postgresMaxConnections" in message
        # (1 + 1 surging) pods x (8 workers x 2 engines x (5 + 36) + 2 wrapper) + 1 migration + 1 backup = 1318
        assert "= 1318 connections" in message
        assert "max_connections 50 leaves 47" in message

    def test_autoscaler_maximum_is_what_counts(self) -> None:
        # (4 + 1) pods x (2 x 2 x 41 + 2) + 1 + 1 = 832 > 397
        message = preview_error({"serverAutoscaling": True, "serverMaxReplicas": 4})
        assert "(4 + 1 during a rollout) pod(s)" in message and "= 832 connections" in message

    def test_job_runner_processes_are_counted(self) -> None:
        message = preview_error({"serverJobExecution": True})
        assert "job runner" in message

    def test_default_configuration_fits(self) -> None:
        # (1 + 1 surging) x (2 x 2 x 41 + 2) + 1 migration + 1 backup + 3 reserved
        run_program("dev", {"postgresMaxConnections": 337}, preview=True)

    def test_one_connection_short_is_refused(self) -> None:
        assert "= 334 connections" in preview_error({"postgresMaxConnections": 336})

    @pytest.mark.parametrize(("overrides", "part"), [
        ({}, "+ 1 during a rollout"),
        ({**MONITORED}, "+ 2 exporter"),
        ({}, "+ 1 backup"),
    ])
    def test_the_surge_pod_the_exporter_and_the_backup_are_counted(self, overrides: dict[str, Any], part: str) -> None:
        """Each holds connections while the server's pools may be full: a rollout runs one pod over the count,
        postgres_exporter keeps two, pg_dump one."""
        message = preview_error({**overrides, "postgresMaxConnections": 50})
        assert part in message

    def test_pools_too_small_for_a_workers_concurrent_requests_are_refused(self) -> None:
        # Found by the benchmark: below 41 connections per engine, concurrent log_batch calls deadlock the pool.
        message = preview_error({"dbPoolSize": 3, "dbMaxOverflow": 2})
        assert "mlflow-platform:dbMaxOverflow: dbPoolSize + dbMaxOverflow is too small" in message
        assert "at least 41 are needed" in message


def test_empty_image_keys_take_the_pinned_versions(dev) -> None:  # type: ignore[no-untyped-def]
    from mlflow_platform.versions import MLFLOW_IMAGE, POSTGRES_IMAGE

    images = {c["image"] for r in dev.kubernetes_objects() if "spec" in r.plain_inputs
              for c in r.plain_inputs["spec"].get("template", {}).get("spec", {}).get("containers", [])}
    assert {MLFLOW_IMAGE, POSTGRES_IMAGE} <= images


def test_image_override_is_used() -> None:
    run = run_program("dev", {"mlflowImage": "registry.example.com/mlflow:v3.17.2-full@sha256:" + "a" * 64})
    server = run.one("kubernetes:apps/v1:Deployment", "mlflow")
    assert server.plain_inputs["spec"]["template"]["spec"]["containers"][0]["image"].endswith("a" * 64)
