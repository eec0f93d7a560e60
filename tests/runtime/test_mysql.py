"""Runtime: the stack on an external MySQL/MariaDB (externalDatabaseEngine mysql), against the real MariaDB on
loopback. The migration Job and the server run exactly as declared, in the image's environment (PyMySQL 1.2.4),
with a database and a user of their own (tests/runtime/mariadb.py)."""

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy.engine import make_url

from harness import ProgramRun
from mlflow_platform.mlflow_postgres.endpoint import database_uri, tls_query
from mlflow_platform.mlflow_postgres.engines import DRIVERS, MYSQL_TLS
from runtime.clients import declared_budget, peak_connections, registry_alias_round_trip, seed_run
from runtime.image_env import required_image_bin
from runtime.mariadb import MariaDBServer
from runtime.platform import Platform, RunningServer, local_platform, stopping

pytestmark = pytest.mark.runtime

CLIENTS = 24


@pytest.fixture(scope="module")
def mysql_platform(mysql_run: ProgramRun, mariadb_server: MariaDBServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform[MariaDBServer]]:
    with local_platform(mysql_run, mariadb_server, Path(tmp_path_factory.mktemp("mysql"))) as local:
        yield local


@pytest.fixture(scope="module")
def migrations(mysql_platform: Platform[MariaDBServer]) -> list[tuple[subprocess.CompletedProcess[str], float]]:
    """The declared migration Job, twice, each with its duration in seconds."""
    return [mysql_platform.timed_migrate() for _ in range(2)]


@pytest.fixture(scope="module")
def mysql_server(mysql_platform: Platform[MariaDBServer], migrations: list[object]) -> Iterator[RunningServer]:
    with stopping(mysql_platform.start_server("mysql-server")) as running:
        yield running


@pytest.fixture(autouse=True)
def tracking_uri(request: pytest.FixtureRequest) -> Iterator[None]:
    if "mysql_server" in request.fixturenames:
        mlflow.set_tracking_uri(request.getfixturevalue("mysql_server").url)
    yield
    mlflow.set_tracking_uri("")


def user_of(platform: Platform[MariaDBServer]) -> str:
    return platform.database  # the test user is named like its database


class TestMigration:
    def test_runs_on_an_empty_database_and_again_as_a_no_op(
            self, migrations: list[tuple[subprocess.CompletedProcess[str], float]], mysql_platform: Platform[MariaDBServer],
            mariadb_server: MariaDBServer) -> None:
        (first, first_seconds), (second, second_seconds) = migrations
        assert first.returncode == 0, first.stderr[-3000:]
        assert second.returncode == 0, second.stderr[-3000:]
        assert len(mariadb_server.query(mysql_platform.database, "SELECT version_num FROM alembic_version")) == 1
        tables = {row[0] for row in mariadb_server.query(mysql_platform.database, "SHOW TABLES")}
        assert {"experiments", "runs", "metrics", "registered_models", "model_versions"} <= tables
        print(f"migration on MariaDB {mariadb_server.version()}: {first_seconds} s empty, {second_seconds} s again")

    def test_the_job_connects_with_the_declared_mysql_uri(self, mysql_platform: Platform[MariaDBServer]) -> None:
        uri = make_url(mysql_platform.cluster.secrets[("mlflow-postgres-uri", "uri")])
        assert (uri.drivername, uri.port, uri.username, dict(uri.query)) == (
            "mysql+pymysql", int(mysql_platform.postgres.address.rsplit(":", 1)[1]), user_of(mysql_platform), {})
        assert uri.password == mysql_platform.postgres.passwords[mysql_platform.database]


class TestServer:
    def test_starts_as_declared_on_mysql(self, mysql_server: RunningServer) -> None:
        assert mysql_server.process.alive()
        assert mysql_server.env["MLFLOW_BACKEND_STORE_URI"].startswith("mysql+pymysql://")

    def test_seed_scenario_experiment_param_metric_and_artifact_in_the_bucket(
            self, mysql_server: RunningServer, mysql_platform: Platform[MariaDBServer], tmp_path: Path) -> None:
        _, run_id = seed_run(mysql_platform, "mysql-seed", tmp_path)
        rows = mysql_platform.postgres.query(mysql_platform.database, "SELECT `key`, value FROM params WHERE run_uuid = %s",
                                             run_id)
        assert rows == [("test_param", "value")]  # in MariaDB, not anywhere else

    def test_registry_alias_load_and_predict(self, mysql_server: RunningServer) -> None:
        registry_alias_round_trip("doubler-mysql")

    def test_connections_stay_within_the_budget_under_24_clients(
            self, mysql_server: RunningServer, mysql_platform: Platform[MariaDBServer], mariadb_server: MariaDBServer,
            stack_budget: int) -> None:
        budget = declared_budget(mysql_server)
        experiment_id = MlflowClient().create_experiment("mysql-load")
        errors: list[BaseException] = []

        def load() -> None:
            try:
                client = MlflowClient()
                run_id = client.create_run(experiment_id).info.run_id
                deadline = time.monotonic() + 6
                step = 0
                while time.monotonic() < deadline:
                    client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
                    client.log_batch(run_id, metrics=[mlflow.entities.Metric("b", float(step), 0, step)])
                    client.search_runs([experiment_id], max_results=5)
                    step += 1
            except BaseException as error:  # reported below, with the peak
                errors.append(error)

        peak = peak_connections(mysql_platform, [threading.Thread(target=load) for _ in range(CLIENTS)])
        print(f"peak MariaDB connections of the server's user: {peak}; budget per pod {budget.per_pod}, "
              f"stack {stack_budget}, max_connections {mariadb_server.max_connections()}")
        assert not errors, errors[:3]
        assert 0 < peak <= budget.per_pod <= stack_budget


class TestTlsAgainstAServerWithoutTls:
    """What each sslmode does against this MariaDB (have_ssl DISABLED), in the image's environment: require and the
    verify modes never fall back to plaintext; prefer and disable connect."""

    @pytest.mark.parametrize("ssl_mode", sorted(MYSQL_TLS))
    def test_only_the_modes_that_allow_plaintext_connect(self, ssl_mode: str, mariadb_server: MariaDBServer,
                                                         tmp_path: Path) -> None:
        if mariadb_server.query(None, "SHOW VARIABLES LIKE 'have_ssl'")[0][1] == "YES":
            pytest.skip("this server speaks TLS: the refusal cannot be shown")
        database = mariadb_server.create_database("mlflow_tls")
        try:
            query = tls_query(ssl_mode, None, "mysql")
            if ssl_mode.startswith("verify-"):  # a CA the image has; verification never starts without TLS
                query["ssl_ca"] = "/etc/ssl/certs/ca-certificates.crt"
            host, port = mariadb_server.address.rsplit(":", 1)
            uri = database_uri(database, mariadb_server.passwords[database], host, int(port), database, query,
                               DRIVERS["mysql"])
            script = ("import os, sqlalchemy\n"
                      "with sqlalchemy.create_engine(os.environ['URI']).connect() as c:\n"
                      "    print(c.exec_driver_sql('SELECT 1').scalar())\n")
            result = subprocess.run([str(required_image_bin() / "python"), "-c", script], capture_output=True,
                                    text=True, timeout=120, env={"URI": uri, "HOME": str(tmp_path)})
        finally:
            mariadb_server.drop_database(database)
        if ssl_mode in ("prefer", "disable"):
            assert result.returncode == 0 and result.stdout.strip() == "1", result.stderr[-2000:]
        else:
            assert result.returncode != 0
            assert "SSL is required but the server doesn't support it" in result.stderr, result.stderr[-2000:]



def test_mlflows_auth_app_still_cannot_create_its_tables_on_mariadb(mariadb_server: MariaDBServer,
                                                                      tmp_path: Path) -> None:
    """Why authEnabled is refused with mysql (settings/__init__.py): MLflow's auth migration names the foreign keys
    of two tables fk_user_id, and InnoDB wants constraint names unique per database (mlflow/mlflow#9642). Run in
    the image's environment as the migration Job would; once this fails, MLflow has fixed it: lift the refusal."""
    database = mariadb_server.create_database("mlflow_auth_rt")
    try:
        host, port = mariadb_server.address.rsplit(":", 1)
        uri = database_uri(database, mariadb_server.passwords[database], host, int(port), database,
                           tls_query("disable", None, "mysql"), DRIVERS["mysql"])
        script = ("import os, sqlalchemy\n"
                  "from mlflow.server.auth.db import utils\n"
                  "utils.migrate(sqlalchemy.create_engine(os.environ['URI']), 'head')\n")
        result = subprocess.run([str(required_image_bin() / "python"), "-c", script], capture_output=True, text=True,
                                timeout=300, env={"URI": uri, "HOME": str(tmp_path)})
    finally:
        mariadb_server.drop_database(database)
    assert result.returncode != 0
    assert "registered_model_permissions" in result.stderr and "errno: 121" in result.stderr, result.stderr[-2000:]
