"""The schema check in the migration Job: after the tracking migration (and the auth database's), a step that fails
the Job when the database lacks a table, column, index or unique constraint MLflow's models declare
(mlflow_platform_schema_check.py, run with `python -c` like the roles script; mlflow/mlflow#14465)."""

from pathlib import Path
from typing import Any

from mlflow_platform.mlflow_server.mlflow_platform_schema_check import AUTH_DATABASE_ENV

SCHEMA_CHECK_SCRIPT = (Path(__file__).parent / "mlflow_platform_schema_check.py").read_text()
STEP_NAME = "check-schema"
# The Job's steps that migrate (migration.py migration_container, auth.py AuthWiring.migration_container).
TRACKING_STEP, AUTH_STEP = "migrate", "migrate-auth"


def schema_check_container(tracking: dict[str, Any], auth: dict[str, Any] | None) -> dict[str, Any]:
    """The tracking migration's container (image, database URI, CA bundle or SQLite volume, the team's environment a
    connection may need, resources) running the check, with the auth database's URI when `auth` migrates one."""
    auth_uri = [entry for entry in auth["env"] if entry["name"] == AUTH_DATABASE_ENV] if auth else []
    return {**tracking, "name": STEP_NAME, "command": ["python", "-c", SCHEMA_CHECK_SCRIPT],
            "env": [*tracking["env"], *auth_uri]}


def with_schema_check(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`steps` with the check right after the last that migrates (before the roles' grants: a failed check leaves the
    roles as they were, and the server's Deployment, which waits for the Job, does not roll)."""
    names = [step["name"] for step in steps]
    if TRACKING_STEP not in names:
        return steps
    auth = steps[names.index(AUTH_STEP)] if AUTH_STEP in names else None
    after = max(names.index(name) for name in (TRACKING_STEP, AUTH_STEP) if name in names) + 1
    return [*steps[:after], schema_check_container(steps[names.index(TRACKING_STEP)], auth), *steps[after:]]
