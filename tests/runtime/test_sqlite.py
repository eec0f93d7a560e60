"""Runtime: the stack in databaseMode sqlite, the throwaway single-replica mode. The migration Job and the one server
pod run exactly as declared, in the image's environment, with the declared volume's mount path (/var/lib/mlflow)
mapped to a temporary directory: the database is the file the URI Secret names on it, nothing else."""

import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from harness import ProgramRun, run_program
from mlflow_platform.mlflow_postgres import SQLITE_DIR
from runtime import image_env
from runtime.clients import registry_alias_round_trip, seed_run
from runtime.fixtures import skip_or_fail
from runtime.platform import DEPLOYMENT, JOB, URI_SECRET, Platform, RunningServer, local_platform, stopping

pytestmark = pytest.mark.runtime

# The smallest sqlite stack: dev (dataProtection false, one replica, no jobs pod, no auth app) with one worker.
SQLITE_STACK: dict[str, Any] = {"databaseMode": "sqlite", "serverWorkers": 1}
CLIENTS = 8


@pytest.fixture(scope="module")
def sqlite_run() -> ProgramRun:
    return run_program("dev", SQLITE_STACK)


@pytest.fixture(scope="module")
def sqlite_platform(sqlite_run: ProgramRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform[None]]:
    if reason := image_env.unavailable_reason():
        skip_or_fail(reason)
    with local_platform(sqlite_run, None, Path(tmp_path_factory.mktemp("sqlite"))) as local:
        yield local


@pytest.fixture(scope="module")
def database_file(sqlite_platform: Platform[None]) -> Path:
    """Where the declared file lands: the declared URI's path, under the local directory of the volume's mount."""
    declared = sqlite_platform.cluster.secrets[URI_SECRET]
    assert declared == f"sqlite:///{SQLITE_DIR}/mlflow.db"
    return sqlite_platform.cluster.mounts[SQLITE_DIR] / "mlflow.db"


@pytest.fixture(scope="module")
def migrations(sqlite_platform: Platform[None]) -> list[tuple[subprocess.CompletedProcess[str], float]]:
    """The declared migration Job, twice, each with its duration in seconds."""
    return [sqlite_platform.timed_migrate() for _ in range(2)]


@pytest.fixture(scope="module")
def sqlite_server(sqlite_platform: Platform[None], migrations: list[object]) -> Iterator[RunningServer]:
    with stopping(sqlite_platform.start_server("sqlite-server")) as running:
        yield running


@pytest.fixture(autouse=True)
def tracking_uri(request: pytest.FixtureRequest) -> Iterator[None]:
    if "sqlite_server" in request.fixturenames:
        mlflow.set_tracking_uri(request.getfixturevalue("sqlite_server").url)
    yield
    mlflow.set_tracking_uri("")


def query(database_file: Path, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database_file) as connection:
        return connection.execute(sql, parameters).fetchall()


class TestMigration:
    def test_the_job_mounts_the_volume_the_server_mounts(self, sqlite_run: ProgramRun) -> None:
        def database_mount(type_token: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
            pod = sqlite_run.one(type_token, name).plain_inputs["spec"]["template"]["spec"]
            (mount,) = [m for c in pod["containers"] for m in c["volumeMounts"] if m["mountPath"] == SQLITE_DIR]
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            return mount, volume

        assert database_mount(JOB, "mlflow-migrate") == database_mount(DEPLOYMENT, "mlflow")

    def test_runs_on_an_empty_volume_and_again_as_a_no_op(
            self, migrations: list[tuple[subprocess.CompletedProcess[str], float]], database_file: Path) -> None:
        (first, first_seconds), (second, second_seconds) = migrations
        assert first.returncode == 0, first.stderr[-3000:]
        assert second.returncode == 0, second.stderr[-3000:]
        assert len(query(database_file, "SELECT version_num FROM alembic_version")) == 1
        tables = {row[0] for row in query(database_file, "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"experiments", "runs", "metrics", "registered_models", "model_versions"} <= tables
        print(f"migration on SQLite {sqlite3.sqlite_version}: {first_seconds} s empty, {second_seconds} s again; "
              f"{database_file.stat().st_size // 1024} KiB")


class TestServer:
    def test_one_worker_on_the_file_of_the_volume(self, sqlite_server: RunningServer, database_file: Path) -> None:
        assert sqlite_server.process.alive()
        assert sqlite_server.argv[sqlite_server.argv.index("--workers") + 1] == "1"
        assert sqlite_server.env["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{database_file}"

    def test_seed_scenario_experiment_param_metric_and_artifact_in_the_bucket(
            self, sqlite_server: RunningServer, sqlite_platform: Platform[None], database_file: Path,
            tmp_path: Path) -> None:
        _, run_id = seed_run(sqlite_platform, "sqlite-seed", tmp_path)
        # In the volume's file, not anywhere else.
        assert query(database_file, "SELECT key, value FROM params WHERE run_uuid = ?", run_id) == [
            ("test_param", "value")]

    def test_registry_alias_load_and_predict(self, sqlite_server: RunningServer) -> None:
        registry_alias_round_trip("doubler-sqlite")

    def test_concurrent_writers_through_the_one_worker_all_succeed(self, sqlite_server: RunningServer) -> None:
        """The one worker's threads share the file: MLflow's busy_timeout (20 s) makes them wait, never fail."""
        experiment_id = MlflowClient().create_experiment("sqlite-load")
        errors: list[BaseException] = []
        calls = [0] * CLIENTS

        def load(index: int) -> None:
            try:
                client = MlflowClient()
                run_id = client.create_run(experiment_id).info.run_id
                deadline = time.monotonic() + 5
                step = 0
                while time.monotonic() < deadline:
                    client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
                    client.log_batch(run_id, metrics=[mlflow.entities.Metric("b", float(step), 0, step)])
                    client.search_runs([experiment_id], max_results=5)
                    step += 1
                calls[index] = 3 * step
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=load, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(f"{CLIENTS} clients, 5 s, one worker on SQLite: {sum(calls)} calls, {sum(calls) / 5:.0f}/s, "
              f"{len(errors)} errors")
        assert not errors, errors[:3]
        assert len(MlflowClient().search_runs([experiment_id], max_results=CLIENTS * 2)) == CLIENTS
