"""pytest fixtures of the runtime layer (loaded from tests/conftest.py)."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harness import ProgramRun, run_program
from mlflow_platform.mlflow_server.connection_budget import ConnectionBudget
from runtime import image_env
from runtime.mariadb import MariaDBServer
from runtime.platform import Platform, RunningServer, local_platform
from runtime.services import PostgresServer, PrivatePostgres

REQUIRE_RUNTIME = "MLFLOW_PLATFORM_REQUIRE_RUNTIME"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip on a developer machine without the services; CI sets REQUIRE_RUNTIME=1 so this fails instead."""
    if os.environ.get(REQUIRE_RUNTIME) == "1":
        pytest.fail(f"runtime tests are required ({REQUIRE_RUNTIME}=1) but {reason}", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_RUNTIME}=1 to make this a failure)")


@contextmanager
def private_postgres_cluster(password: str | None = None) -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the test's own (PrivatePostgres), stopped afterwards; skipped or failed without one."""
    try:
        cluster = PrivatePostgres(password)
    except (FileNotFoundError, subprocess.CalledProcessError) as err:
        skip_or_fail(f"cannot start a private PostgreSQL: {err}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    server = PostgresServer.from_environment()
    if reason := server.unavailable_reason() or image_env.unavailable_reason():
        skip_or_fail(reason)
    return server


@pytest.fixture(scope="session")
def mariadb_server() -> MariaDBServer:
    server = MariaDBServer.from_environment()
    if reason := server.unavailable_reason() or image_env.unavailable_reason():
        skip_or_fail(reason)
    return server


@pytest.fixture(scope="module")
def platform(dev: ProgramRun, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with local_platform(dev, postgres_server, Path(tmp_path_factory.mktemp("platform"))) as local:
        yield local


@pytest.fixture(scope="module")
def migrations(platform: Platform) -> list[object]:
    """The declared migration Job, run twice on the empty database before the server starts; the schema is at MLflow's
    head after the first run, before any server could create it."""
    first = platform.migrate()
    assert first.returncode == 0, first.stdout + first.stderr
    platform.assert_migrated()
    return [first, platform.migrate()]


@pytest.fixture(scope="module")
def server(platform: Platform, migrations: list[object]) -> Iterator[RunningServer]:
    running = platform.start_server()
    try:
        yield running
    finally:
        running.stop()


# The smallest stack the MySQL tests (test_mysql.py, test_upgrades.py) can state: dev's server (1 replica, 2 workers,
# pools 5 + 36) on the external server.
MYSQL_STACK: dict[str, Any] = {
    "databaseMode": "external", "externalDatabaseEngine": "mysql", "externalDatabaseHost": "mysql.db.internal",
    "externalDatabasePassword": {"secure": "v1:replaced-by-the-test-users"}, "databaseCidr": "10.0.0.0/16",
    # MariaDB here has no TLS: PyMySQL's PREFERRED mode falls back to plaintext (require is refused, below).
    "externalDatabaseSslMode": "prefer",
}


@pytest.fixture(scope="module")
def stack_budget(mariadb_server: MariaDBServer) -> Iterator[int]:
    """The stack's preview-time budget (ConnectionBudget.total), with the server's max_connections raised to it for
    the module if it is lower (MariaDB's default, 151, is below any stack's: 2 pods x 84 + 1 at the least)."""
    budget = ConnectionBudget(max_replicas=1, workers=2, pool_size=5, max_overflow=36, job_execution=False).total
    before = mariadb_server.max_connections()
    if before < budget:
        try:
            mariadb_server.set_max_connections(budget)
        except Exception as error:
            skip_or_fail(f"MariaDB's max_connections is {before}, below the stack's budget {budget}, and could not "
                         f"be raised ({error})")
    try:
        yield budget
    finally:
        if before < budget:
            mariadb_server.set_max_connections(before)


@pytest.fixture(scope="module")
def mysql_run(mariadb_server: MariaDBServer, stack_budget: int) -> ProgramRun:
    """The stack as a user would state it: postgresMaxConnections is what the server allows (checked at preview)."""
    return run_program("dev", {**MYSQL_STACK, "postgresMaxConnections": mariadb_server.max_connections()})


JOBS_STACK = {"serverJobExecution": True, "postgresMaxConnections": 1100}
"""The dev stack with the jobs pod (its budget: 1 x 166 + 658 + 1 connections)."""


@pytest.fixture(scope="module")
def jobs_platform(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The dev stack with serverJobExecution, its migration Job run: the API and jobs servers start from it."""
    with local_platform(run_program("dev", JOBS_STACK), postgres_server, Path(tmp_path_factory.mktemp("jobs"))) as local:
        assert local.migrate().returncode == 0
        yield local
