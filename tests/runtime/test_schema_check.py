"""Runtime: the migration Job's schema check (mlflow_server/mlflow_platform_schema_check.py) on real databases. The
declared Job runs on an empty database and passes; then what an interrupted or manual migration leaves behind (the
alembic revision at head, an index gone: mlflow/mlflow#14465) is made by hand, and the Job must fail naming each
missing object with the SQL that repairs it; that SQL run, the Job passes again.

PostgreSQL with the auth app (both databases checked), and MariaDB (the external MySQL backend). A fresh SQLite
passes in tests/runtime/test_sqlite.py, whose migrations run the same steps.
"""

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import ProgramRun, run_program
from runtime.mariadb import MariaDBServer
from runtime.platform import Platform, local_platform
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime

# Created by MLflow's migration a5b4c3d2e1f0 for metric history queries (mlflow/mlflow#12813): what #14465 lost.
METRICS_INDEX = "index_metrics_run_uuid_key_step"
# The auth app's models (mlflow/server/auth/db/models.py) declare it: a user's role lookups on every request.
AUTH_INDEX = "idx_user_role_assignments_user_id"
TRACKING_UNIQUE = "uq_experiments_workspace_name"


@pytest.fixture(scope="module")
def postgres_platform(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with local_platform(run_program("dev", {"authEnabled": True, "authAllowBasicAuth": True}), postgres_server,
                        Path(tmp_path_factory.mktemp("schema-check"))) as local:
        yield local


@pytest.fixture(scope="module")
def mysql_platform(mysql_run: ProgramRun, mariadb_server: MariaDBServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform[MariaDBServer]]:
    with local_platform(mysql_run, mariadb_server, Path(tmp_path_factory.mktemp("schema-check-mysql"))) as local:
        yield local


def repairs(report: str) -> list[str]:
    """The SQL a report gives, one statement per missing object."""
    return re.findall(r"^\s+repair: (.+);$", report, flags=re.MULTILINE)


def fails_then_repairs(platform: Platform[Any], execute: Callable[[str, str], object], damage: list[tuple[str, str]],
                       reported: list[str]) -> list[str]:
    """The Job passes; after `damage` ((database, SQL)) it fails reporting each of `reported`; after the repair SQL it
    prints (run in the database whose report names it), it passes again. Returns that SQL."""
    migrated = platform.migrate()
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    for database, statement in damage:
        execute(database, statement)
    failed = platform.migrate()
    assert failed.returncode != 0, "the Job passed on a database without " + ", ".join(reported)
    assert "schema check failed" in failed.stderr, failed.stderr[-3000:]
    for what in reported:
        assert what in failed.stderr, failed.stderr[-3000:]
    assert "'Schema check after the migration'" in failed.stderr
    sections = re.split(r"the (tracking|auth) database lacks", failed.stderr)
    for kind, text in zip(sections[1::2], sections[2::2], strict=True):
        for statement in repairs(text):
            execute(platform.database + ("_auth" if kind == "auth" else ""), statement)
    again = platform.migrate()
    assert again.returncode == 0, again.stderr[-3000:]
    return repairs(failed.stderr)


def test_postgresql_a_lost_index_and_unique_constraint_fail_the_job_until_repaired(postgres_platform: Platform) -> None:
    platform = postgres_platform
    assert platform.postgres is not None
    statements = fails_then_repairs(
        platform, lambda database, sql: platform.postgres.query(database, sql),
        [(platform.database, f"DROP INDEX {METRICS_INDEX}"),
         (platform.database, f"ALTER TABLE experiments DROP CONSTRAINT {TRACKING_UNIQUE}"),
         (f"{platform.database}_auth", f"DROP INDEX {AUTH_INDEX}")],
        [f"index {METRICS_INDEX} on metrics (run_uuid, key, step)",
         f"unique constraint {TRACKING_UNIQUE} on experiments (workspace, name)",
         "the auth database lacks 1 object(s)", f"index {AUTH_INDEX} on user_role_assignments (user_id)"])
    assert sorted(statements) == sorted([
        f"ALTER TABLE experiments ADD CONSTRAINT {TRACKING_UNIQUE} UNIQUE (workspace, name)",
        f"CREATE INDEX {METRICS_INDEX} ON metrics (run_uuid, key, step)",
        f"CREATE INDEX {AUTH_INDEX} ON user_role_assignments (user_id)"])


def test_postgresql_a_lost_column_is_reported_too(postgres_platform: Platform) -> None:
    platform = postgres_platform
    assert platform.postgres is not None
    statements = fails_then_repairs(
        platform, lambda database, sql: platform.postgres.query(database, sql),
        [(platform.database, "ALTER TABLE runs DROP COLUMN deleted_time")], ["column runs.deleted_time"])
    assert statements == ["ALTER TABLE runs ADD COLUMN deleted_time BIGINT"]


def test_mariadb_a_lost_index_fails_the_job_until_repaired(mysql_platform: Platform[MariaDBServer],
                                                           mariadb_server: MariaDBServer) -> None:
    statements = fails_then_repairs(
        mysql_platform, lambda database, sql: mariadb_server.query(database, sql),
        [(mysql_platform.database, f"DROP INDEX {METRICS_INDEX} ON metrics")],
        [f"index {METRICS_INDEX} on metrics (run_uuid, key, step)"])
    assert statements == [f"CREATE INDEX {METRICS_INDEX} ON metrics (run_uuid, `key`, step)"]
