"""The migration Job's schema check (mlflow_server/schema_check.py): a step after the migrations, connected like them, that
fails the Job when the database lacks a table, column, index or unique constraint MLflow's models declare
(tests/runtime/test_schema_check.py runs it against databases with an index dropped)."""

from typing import Any

import pytest

from conftest import JOB, SQLITE_STACK, env_of, pod_spec
from harness import ProgramRun, run_program
from mlflow_platform.mlflow_postgres.args import SQLITE_DIR
from mlflow_platform.mlflow_server import mlflow_platform_schema_check as script
from mlflow_platform.mlflow_server.auth import AUTH_DATABASE_ENV
from mlflow_platform.mlflow_server.migration import BACKEND_URI_ENV
from mlflow_platform.mlflow_server.schema_check import SCHEMA_CHECK_SCRIPT, with_schema_check


def steps(run: ProgramRun) -> list[dict[str, Any]]:
    pod = pod_spec(run.one(JOB, "mlflow-migrate"))
    return [*pod.get("initContainers", []), *pod["containers"]]


def step(run: ProgramRun, name: str) -> dict[str, Any]:
    (found,) = [item for item in steps(run) if item["name"] == name]
    return found


def test_the_script_reads_the_variables_the_job_sets() -> None:
    """It runs on its own in the pod (python -c), so it names them itself."""
    assert (script.BACKEND_URI_ENV, script.AUTH_DATABASE_ENV) == (BACKEND_URI_ENV, AUTH_DATABASE_ENV)


def test_dev_checks_the_tracking_schema_after_migrating_it_and_before_the_grants(dev: ProgramRun) -> None:
    assert [item["name"] for item in steps(dev)] == ["migrate", "check-schema", "grant-roles"]
    check, migrate = step(dev, "check-schema"), step(dev, "migrate")
    assert check["command"] == ["python", "-c", SCHEMA_CHECK_SCRIPT] and "args" not in check
    assert "compare_metadata" in SCHEMA_CHECK_SCRIPT and "index_metrics" not in SCHEMA_CHECK_SCRIPT
    # Connected exactly as the migration (the owner's URI from the roles Secret, never on a command line), in the same
    # image, hardening and resources; no auth database without the auth app.
    assert check["env"] == migrate["env"] and AUTH_DATABASE_ENV not in env_of(check)
    assert env_of(check)[BACKEND_URI_ENV]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-postgres-roles", "key": "owner-uri"}
    assert {key: value for key, value in check.items() if key not in ("name", "command")} == {
        key: value for key, value in migrate.items() if key not in ("name", "command")}


def test_prod_checks_the_auth_database_too_once_it_is_migrated(prod: ProgramRun) -> None:
    assert [item["name"] for item in steps(prod)] == ["migrate", "migrate-auth", "check-schema", "grant-roles"]
    check = env_of(step(prod, "check-schema"))
    assert check[AUTH_DATABASE_ENV] == env_of(step(prod, "migrate-auth"))[AUTH_DATABASE_ENV]
    assert check[AUTH_DATABASE_ENV]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-postgres-roles", "key": "owner-auth-uri"}
    assert check[BACKEND_URI_ENV] == env_of(step(prod, "migrate"))[BACKEND_URI_ENV]


@pytest.mark.parametrize("overrides", [SQLITE_STACK,
                                       {"databaseMode": "external", "externalDatabaseHost": "pg.internal",
                                        "externalDatabasePassword": {"secure": "v1:encrypted"}, "databaseCidr": "10.0.0.0/16"}],
                         ids=["sqlite", "external-without-roles"])
def test_without_roles_the_check_is_the_jobs_last_step_and_sees_the_same_database(overrides: dict[str, Any]) -> None:
    run = run_program("dev", overrides)
    names = [item["name"] for item in steps(run)]
    assert names[-1] == "check-schema" and names.index("check-schema") > names.index("migrate")
    assert pod_spec(run.one(JOB, "mlflow-migrate"))["containers"][0]["name"] == "check-schema"
    check, migrate = step(run, "check-schema"), step(run, "migrate")
    assert check["volumeMounts"] == migrate["volumeMounts"] and check["env"] == migrate["env"]
    if overrides.get("databaseMode") == "sqlite":
        assert any(mount["mountPath"] == SQLITE_DIR for mount in check["volumeMounts"])


def test_a_job_without_the_tracking_migration_gets_no_check() -> None:
    grants = {"name": "grant-roles", "env": []}
    assert with_schema_check([grants]) == [grants]


def test_the_models_index_the_migrations_never_create_is_the_only_exclusion() -> None:
    """Measured on freshly migrated PostgreSQL, MariaDB and SQLite (MLflow 3.17.2): every other difference autogenerate
    reports is a definition the check matches by name (tests/runtime/test_schema_check.py passes them)."""
    assert {("issues", "index_issues_created_by")} == script.NEVER_MIGRATED
