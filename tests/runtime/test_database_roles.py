"""The database roles the migration Job creates, on a PostgreSQL that checks passwords (SCRAM on TCP): each workload's
role signs in with the password its Secret holds and can do what the workload needs and no more.

What the Job runs is the declared container (mlflow_platform/mlflow_server/mlflow_platform_db_roles.py); the roles'
privileges are PostgreSQL's own (GRANT, pg_monitor, default_transaction_read_only). PostgreSQL here is Debian's 15;
the stack runs 17: what differs for roles since 16 (CREATEROLE needs ADMIN OPTION on a role to alter it, which its
creator gets) is noted where it matters.
"""

import secrets
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import psycopg2.errors
import pytest
import requests

from conftest import MONITORED
from harness import ProgramRun, run_program
from runtime.fixtures import private_postgres_cluster
from runtime.platform import OWNER_URIS, ROLES_SECRET, URI_SECRET, Platform, declared_secrets, local_platform, stopping
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime

OWNER_PASSWORD = secrets.token_hex(16)


@pytest.fixture(scope="module")
def scram_postgres() -> Iterator[PostgresServer]:
    with private_postgres_cluster(OWNER_PASSWORD) as cluster:
        yield cluster.server


@pytest.fixture(scope="module")
def monitored() -> ProgramRun:
    """Every role there is: the app's, the exporter's (monitoring) and the backup's; and the auth app's database."""
    return run_program("dev", {**MONITORED, "authEnabled": True, "authAllowBasicAuth": True})


@pytest.fixture(scope="module")
def granted(monitored: ProgramRun, scram_postgres: PostgresServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with local_platform(monitored, scram_postgres, tmp_path_factory.mktemp("roles")) as platform:
        migrated = platform.migrate()
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert "role mlflow_app: created" in migrated.stdout or "role mlflow_app: updated" in migrated.stdout
        platform.assert_migrated()
        yield platform


def role_password(platform: Platform, kind: str) -> str:
    return platform.cluster.secrets[(ROLES_SECRET, f"{kind}-password")]


def connect_as(platform: Platform, user: str, password: str, database: str | None = None) -> Any:
    address = urlsplit(f"//{platform.postgres.address}")
    connection = psycopg2.connect(host=address.hostname, port=address.port, user=user, password=password,
                                  dbname=database or platform.database, connect_timeout=5)
    connection.autocommit = True
    return connection


def refused(connection: Any, statement: str) -> str:
    """The error PostgreSQL answers `statement` with (the test fails if it succeeds)."""
    with connection.cursor() as cursor:
        try:
            cursor.execute(statement)
        except (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.ReadOnlySqlTransaction) as error:
            return str(error).splitlines()[0]
    raise AssertionError(f"{statement!r} succeeded")


def rows(connection: Any, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def test_each_role_signs_in_with_its_secrets_password_and_no_other(granted: Platform) -> None:
    """The Job sent each password as a SCRAM verifier computed in the pod; the server checks it (scram-sha-256)."""
    app_uri = urlsplit(granted.cluster.secrets[URI_SECRET])
    assert app_uri.username == "mlflow_app"
    logins = {"mlflow_app": app_uri.password or "", "mlflow_monitor": role_password(granted, "monitor"),
              "mlflow_backup": role_password(granted, "backup")}
    for user, password in logins.items():
        with closing(connect_as(granted, user, password)) as connection:
            assert rows(connection, "SELECT current_user") == [(user,)]
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            connect_as(granted, user, password + "x")
    stored = rows(connect_as(granted, "postgres", OWNER_PASSWORD, "postgres"),
                  "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)", list(logins))
    assert {name: verifier.split("$")[0] for name, verifier in stored} == dict.fromkeys(logins, "SCRAM-SHA-256")


def test_the_server_runs_as_the_app_role_which_writes_rows_and_cannot_change_the_schema(granted: Platform) -> None:
    """MLflow's whole API works with rows only; dropping, altering or creating a table, or moving alembic's revision
    (the migration's alone), is refused."""
    with stopping(granted.start_server("as-app")) as server:
        created = requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "roles"}, timeout=30,
                                auth=("mlflow-platform-admin", granted.cluster.secrets[("mlflow-auth", "admin-password")]))
        assert created.status_code == 200, created.text
        admin = connect_as(granted, "postgres", OWNER_PASSWORD, "postgres")
        users = {user for (user,) in rows(admin, "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = ANY(%s)",
                                          [granted.database, f"{granted.database}_auth"])}
        assert users == {"mlflow_app"}, users
    app_password = urlsplit(granted.cluster.secrets[URI_SECRET]).password or ""
    for database in (granted.database, f"{granted.database}_auth"):
        with closing(connect_as(granted, "mlflow_app", app_password, database)) as app:
            table = "experiments" if database == granted.database else "users"
            assert rows(app, f"SELECT count(*) FROM {table}")[0][0] >= 1
            for statement in (f"DROP TABLE {table}", f"TRUNCATE {table}", f"ALTER TABLE {table} ADD COLUMN x int",
                              "CREATE TABLE mlflow_platform_probe (x int)"):
                message = refused(app, statement)
                assert "permission denied" in message or "must be owner" in message, message
        version = "alembic_version" if database == granted.database else "alembic_version_auth"
        with closing(connect_as(granted, "mlflow_app", app_password, database)) as app:
            assert rows(app, f"SELECT count(*) FROM {version}") == [(1,)]
            assert "permission denied" in refused(app, f"UPDATE {version} SET version_num = 'x'")
    with closing(connect_as(granted, "mlflow_app", app_password)) as app, app.cursor() as cursor:
        app.autocommit = False  # the write is rolled back: the check leaves the data as it was
        cursor.execute("UPDATE experiments SET name = name || '-renamed' WHERE name = 'roles'")
        assert cursor.rowcount == 1
        app.rollback()


def test_the_exporter_reads_every_sessions_statistics_and_no_table(granted: Platform) -> None:
    """pg_monitor: what postgres_exporter's default collectors read, other roles' sessions included."""
    sts = granted.run.one("kubernetes:apps/v1:StatefulSet", "mlflow-postgres").plain_inputs
    exporter = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "metrics")
    user = next(e["value"] for e in exporter["env"] if e["name"] == "DATA_SOURCE_USER")
    with closing(connect_as(granted, user, role_password(granted, "monitor"))) as monitor:
        assert rows(monitor, "SELECT count(*) FROM pg_stat_database")[0][0] > 0
        assert rows(monitor, "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')") == [(True,)]
        assert "permission denied" in refused(monitor, "SELECT count(*) FROM runs")
        for statement in ("INSERT INTO experiments (name) VALUES ('x')", "CREATE TABLE mlflow_platform_probe (x int)"):
            refused(monitor, statement)


def test_the_backup_dumps_both_databases_and_can_write_nothing(granted: Platform, tmp_path: Path) -> None:
    """The declared dump runs as the backup role; read-only is its default, and without it no table is writable."""
    dumped = granted.backup(tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    assert {path.name for path in tmp_path.glob("*.dump")} == {"tracking.dump", "auth.dump"}
    with closing(connect_as(granted, "mlflow_backup", role_password(granted, "backup"))) as backup:
        assert rows(backup, "SHOW default_transaction_read_only") == [("on",)]
        refused(backup, "INSERT INTO experiments (name) VALUES ('x')")
        with backup.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = off")
        assert "permission denied" in refused(backup, "INSERT INTO experiments (name) VALUES ('x')")
        assert "permission denied" in refused(backup, "CREATE TABLE mlflow_platform_probe (x int)")


def test_a_server_on_a_database_the_job_never_migrated_cannot_create_the_schema(granted: Platform) -> None:
    """One migrator: MLflow's server creates the tables it finds missing (store/db/utils.py _all_tables_exist ->
    _initialize_tables); as the app role it may not, so it stops instead of migrating behind the Job's back."""
    empty = granted.postgres.create_database("mlflow_rt_empty")
    try:
        server = granted.on_database(empty).start_server("unmigrated", wait=False)
        with stopping(server):
            deadline = time.monotonic() + 120
            while server.process.alive() and time.monotonic() < deadline:
                time.sleep(1)
            assert not server.process.alive(), "the server started on an unmigrated database"
            assert "permission denied for schema public" in server.process.log_tail(200)
        assert granted.postgres.query(empty, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    finally:
        granted.postgres.drop_database(empty)


def test_an_owner_with_the_rds_master_users_attributes_creates_and_grants_the_roles(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """On RDS the owner is the master user: not a superuser, but CREATEDB and CREATEROLE ("Understanding the
    rds_superuser role", RDS User Guide). The same Job, as such a role on its own database, creates the roles it
    grants (PostgreSQL 16+ gives their creator the ADMIN OPTION that altering them later needs)."""
    prod_like = run_program("dev", {"authEnabled": True, "authAllowBasicAuth": True})
    owner_password = urlsplit(declared_secrets(prod_like)[OWNER_URIS[0]]).password
    with private_postgres_cluster(OWNER_PASSWORD) as cluster:
        cluster.server.query("postgres", "CREATE ROLE mlflow LOGIN NOSUPERUSER CREATEDB CREATEROLE PASSWORD %s",
                             owner_password)
        address = cluster.server.address
        master = PostgresServer(f"postgresql://mlflow:{owner_password}@{address}/postgres")
        with local_platform(prod_like, master, tmp_path_factory.mktemp("rds-like")) as platform:
            migrated = platform.migrate()
            assert migrated.returncode == 0, migrated.stdout + migrated.stderr
            platform.assert_migrated()
            assert master.query(platform.database, "SELECT pg_get_userbyid(datdba) FROM pg_database "
                                "WHERE datname = current_database()") == [("mlflow",)]
            with stopping(platform.start_server("as-app-on-rds-like")) as server:
                assert requests.get(f"{server.url}/health", timeout=10).status_code == 200

