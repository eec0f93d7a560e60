"""Reliability, for real: a backup that restores, and faults that lose no acknowledged write.

Each fault runs twice: with a bare HTTP client without retries (failed requests and the failing
window are counted) and with the mlflow client and its default retries (no call may fail).
Measurements go to build/reliability.json; docs/RELIABILITY.md reports them.
"""

import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow.tracking import MlflowClient

from harness import ROOT, ProgramRun
from runtime.fixtures import private_postgres_cluster
from runtime.platform import OWNER_URIS, URI_SECRET, Platform, RunningServer, local_platform
from runtime.services import PrivatePostgres

pytestmark = pytest.mark.runtime
RESULTS = ROOT / "build" / "reliability.json"


def record(scenario: str, result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[scenario] = result
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))


@dataclass
class LoadResult:
    attempted: int = 0
    acknowledged: list[int] = field(default_factory=list)
    failed: int = 0
    first_failure: float | None = None
    last_failure: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def failing_window_s(self) -> float:
        if self.first_failure is None or self.last_failure is None:
            return 0.0
        return round(self.last_failure - self.first_failure, 2)


def bare_logger(url: str, run_id: str, stop: threading.Event, result: LoadResult) -> None:
    """One log-metric request at a time, no retries: every failure is counted."""
    step = 0
    while not stop.is_set():
        body: dict[str, Any] = {"run_id": run_id, "key": "loss", "value": float(step),
                                "timestamp": 1_700_000_000_000 + step,
                "step": step}
        result.attempted += 1
        try:
            response = requests.post(f"{url}/api/2.0/mlflow/runs/log-metric", json=body, timeout=5)
            ok = response.status_code == 200
        except requests.RequestException as err:
            ok, response = False, None
            result.errors.append(f"{type(err).__name__}: {err}"[:600])
        if ok:
            result.acknowledged.append(step)
        else:
            now = time.monotonic()
            result.first_failure = result.first_failure or now
            result.last_failure = now
            result.failed += 1
            if response is not None:
                result.errors.append(str(response.status_code))
            time.sleep(0.1)
        step += 1


def client_logger(url: str, run_id: str, stop: threading.Event, result: LoadResult) -> None:
    """The mlflow client with its default retries: a failure here is a failure the user sees."""
    client = MlflowClient(tracking_uri=url)
    step = 0
    while not stop.is_set():
        result.attempted += 1
        try:
            client.log_metric(run_id, "loss", float(step), timestamp=1_700_000_000_000 + step, step=step)
            result.acknowledged.append(step)
        except Exception as err:
            result.failed += 1
            result.errors.append(f"{type(err).__name__}: {err}"[:600])
        step += 1


def under_load(url: str, logger: Callable[..., None], fault: Callable[[], None], before: float = 2.0,
               after: float = 6.0) -> tuple[str, LoadResult]:
    run_id = MlflowClient(tracking_uri=url).create_run(MlflowClient(tracking_uri=url).create_experiment(
        f"fault-{time.monotonic_ns()}")).info.run_id
    stop, result = threading.Event(), LoadResult()
    thread = threading.Thread(target=logger, args=(url, run_id, stop, result))
    thread.start()
    time.sleep(before)
    fault()
    time.sleep(after)
    stop.set()
    thread.join(timeout=600)
    return run_id, result


def stored_steps(url: str, run_id: str) -> set[int]:
    return {m.step for m in MlflowClient(tracking_uri=url).get_metric_history(run_id, "loss")}


def assert_nothing_acknowledged_was_lost(url: str, run_id: str, result: LoadResult) -> None:
    lost = set(result.acknowledged) - stored_steps(url, run_id)
    assert result.acknowledged and not lost, f"acknowledged writes lost: {sorted(lost)[:10]}"


# --- backup and restore -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def populated(platform: Platform, server: RunningServer) -> dict[str, Any]:
    """Experiments, runs with params/metrics/tags, a registered model with an alias."""
    client = MlflowClient(tracking_uri=server.url)
    for e in range(2):
        experiment = client.create_experiment(f"restore-{e}", tags={"team": "ml"})
        for r in range(3):
            run_id = client.create_run(experiment, tags={"mlflow.runName": f"run-{e}-{r}"}).info.run_id
            client.log_param(run_id, "lr", str(0.1 * (r + 1)))
            client.set_tag(run_id, "stage", "restore-test")
            for step in range(50):
                client.log_metric(run_id, "loss", 1.0 / (step + 1), timestamp=1_700_000_000_000 + step, step=step)
            client.set_terminated(run_id)
    client.create_registered_model("restored-model")
    version = client.create_model_version("restored-model", "s3://x/model", run_id=run_id)
    client.set_registered_model_alias("restored-model", "champion", version.version)
    return snapshot(server.url)


def snapshot(url: str) -> dict[str, Any]:
    client = MlflowClient(tracking_uri=url)
    experiments = sorted(client.search_experiments(), key=lambda e: e.experiment_id)
    runs = client.search_runs([e.experiment_id for e in experiments], max_results=1000)
    return {
        "experiments": [(e.experiment_id, e.name, e.tags) for e in experiments],
        "runs": sorted((r.info.run_id, r.info.status, r.data.params, r.data.metrics,
                        {k: v for k, v in r.data.tags.items()}) for r in runs),
        "histories": {r.info.run_id: [(m.step, m.value, m.timestamp) for m in
                                      sorted(client.get_metric_history(r.info.run_id, "loss"), key=lambda m: m.step)]
                      for r in runs},
        "models": [(m.name, sorted(m.aliases.items()) if isinstance(m.aliases, dict) else m.aliases)
                   for m in client.search_registered_models()],
        "alias": client.get_model_version_by_alias("restored-model", "champion").version,
    }


def test_backup_restores_into_a_fresh_database_identically(
    platform: Platform, populated: dict[str, Any], tmp_path: Path
) -> None:
    dump = platform.backup(tmp_path)
    assert dump.returncode == 0, dump.stderr
    dump_file = tmp_path / "tracking.dump"
    assert dump_file.stat().st_size > 0
    assert not (tmp_path / "auth.dump").exists()  # no auth app in this stack, no auth database to dump
    restored = platform.postgres.create_database("mlflow_restored")
    try:
        platform.postgres.restore(dump_file, restored)
        server = platform.on_database(restored).start_server("restored")
        try:
            assert snapshot(server.url) == populated
        finally:
            server.stop()
    finally:
        platform.postgres.drop_database(restored)
    record("backup-restore", {"dump_bytes": dump_file.stat().st_size, "runs": len(populated["runs"]),
                              "identical": True})


# --- faults -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    with private_postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def fault_platform(dev: ProgramRun, private_postgres: PrivatePostgres,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with local_platform(dev, private_postgres.server, tmp_path_factory.mktemp("faults")) as local:
        assert local.migrate().returncode == 0
        yield local


@pytest.fixture
def fault_server(fault_platform: Platform, request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    server = fault_platform.start_server(request.node.name.replace("[", "-").rstrip("]"))
    try:
        yield server
    finally:
        server.stop()


LOGGERS = {"bare-http": bare_logger, "mlflow-client": client_logger}


@pytest.mark.parametrize("client", LOGGERS)
def test_postgres_restart_heals_without_restarting_the_server(
    fault_server: RunningServer, private_postgres: PrivatePostgres, client: str
) -> None:
    restarted: list[float] = []

    def restart() -> None:
        began = time.monotonic()
        private_postgres.restart()
        restarted.append(time.monotonic() - began)

    run_id, result = under_load(fault_server.url, LOGGERS[client], restart)
    assert fault_server.process.alive(), "the server must recover by itself"
    assert_nothing_acknowledged_was_lost(fault_server.url, run_id, result)
    if client == "mlflow-client":
        assert result.failed == 0, result.errors
    record(f"postgres-restart/{client}", {"requests": result.attempted, "failed": result.failed,
                                          "failing_window_s": result.failing_window_s,
                                          "restart_s": round(restarted[0], 2), "lost": 0})


@pytest.mark.parametrize("client", LOGGERS)
def test_server_killed_mid_load_and_started_again_loses_nothing(fault_platform: Platform, client: str) -> None:
    server = fault_platform.start_server(f"kill-{client}")
    replacement: list[RunningServer] = []

    def kill_and_restart() -> None:
        server.process.signal_group(signal.SIGKILL)
        server.process.process.wait(10)
        began = time.monotonic()
        replacement.append(fault_platform.start_server(f"kill-{client}-again", port=server.port))
        replacement[0].startup_seconds = time.monotonic() - began

    try:
        run_id, result = under_load(server.url, LOGGERS[client], kill_and_restart)
        assert_nothing_acknowledged_was_lost(server.url, run_id, result)
        if client == "mlflow-client":
            assert result.failed == 0, result.errors
        else:
            assert result.failed > 0, "a bare client must see the outage"
        record(f"server-sigkill/{client}", {"requests": result.attempted, "failed": result.failed,
                                            "failing_window_s": result.failing_window_s,
                                            "recovery_s": round(replacement[0].startup_seconds, 1), "lost": 0})
    finally:
        server.stop()
        for started in replacement:
            started.stop()


def test_two_servers_on_an_empty_database_race_without_the_migration_job(
    private_postgres: PrivatePostgres, dev: ProgramRun, tmp_path: Path
) -> None:
    """MLflow's own race, documented: this is why the migration runs once, in a Job, before the rollout. The racers
    connect as the owner, as servers did before the database roles; as the app role they cannot migrate at all
    (tests/runtime/test_database_roles.py)."""
    with local_platform(dev, private_postgres.server, tmp_path) as local:
        secrets = local.cluster.secrets
        as_owner = dataclasses.replace(local, cluster=dataclasses.replace(
            local.cluster, secrets={**secrets, URI_SECRET: secrets[OWNER_URIS[0]]}))
        servers = [as_owner.start_server(f"racer-{i}", wait=False) for i in range(2)]
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and all(s.process.alive() for s in servers):
                if all(_healthy(s.url) for s in servers):
                    break
                time.sleep(0.5)
            crashed = [s for s in servers if not s.process.alive()]
            logs = "\n".join(s.process.log_tail(200) for s in crashed)
            assert crashed, "expected one server to crash migrating an empty database at the same time as another"
            assert "UniqueViolation" in logs or "already exists" in logs, logs[-2000:]
        finally:
            for started in servers:
                started.stop()
        # With the migration Job first, both start and serve.
        assert local.migrate().returncode == 0
        servers = [local.start_server(f"after-migration-{i}", wait=False) for i in range(2)]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not all(_healthy(s.url) for s in servers):
                assert all(s.process.alive() for s in servers), [s.process.log_tail() for s in servers]
                time.sleep(0.5)
            for started in servers:
                response = requests.get(f"{started.url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
                assert response.status_code == 200
        finally:
            for started in servers:
                started.stop()
    record("two-servers-empty-database", {"without_migration_job": f"{len(crashed)} of 2 crashed",
                                          "after_migration_job": "both serve"})


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_malformed_requests_get_4xx_and_the_server_keeps_serving(fault_server: RunningServer) -> None:
    url = f"{fault_server.url}/api/2.0/mlflow"
    run_id = MlflowClient(tracking_uri=fault_server.url).create_run("0").info.run_id
    cases = {
        "unknown run id": requests.get(f"{url}/runs/get", params={"run_id": "0" * 32}, timeout=10),
        "invalid metric value": requests.post(f"{url}/runs/log-metric", timeout=10,
                                              json={"run_id": run_id, "key": "m", "value": "not-a-number",
                                                    "timestamp": 0}),
        "bad JSON": requests.post(f"{url}/runs/log-metric", data=b"{not json", timeout=10,
                                  headers={"Content-Type": "application/json"}),
        "missing field": requests.post(f"{url}/runs/log-metric", json={"run_id": run_id}, timeout=10),
    }
    statuses = {name: response.status_code for name, response in cases.items()}
    assert all(400 <= status < 500 for status in statuses.values()), statuses
    assert requests.get(f"{url}/experiments/search?max_results=1", timeout=10).status_code == 200
    record("malformed-requests", statuses)


def test_s3_outage_during_a_multipart_upload(fault_platform: Platform, fault_server: RunningServer, prod: ProgramRun,
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 frozen as a multipart upload starts: the client fails, nothing partial is visible, it works once S3 is back."""
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(16 * 1024**2))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * 1024**2))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(os.urandom(48 * 1024**2))
    client = MlflowClient(tracking_uri=fault_server.url)
    run = client.create_run("0")
    s3 = fault_platform.s3.process
    key = f"{fault_platform.prefix}0/{run.info.run_id}/artifacts/model.bin"

    # Frozen as the upload starts: the server's call to S3 blocks and the client's own timeout must fire.
    # (Frozen later, a presigned part upload can wait on S3 with no timeout at all.) A watchdog always
    # resumes S3, so a hang cannot outlive the test.
    watchdog = threading.Timer(60, lambda: s3.signal_group(signal.SIGCONT))
    s3.signal_group(signal.SIGSTOP)
    watchdog.start()
    began = time.monotonic()
    try:
        with pytest.raises(Exception):  # noqa: B017 - whichever error the client raises, it must raise one
            client.log_artifact(run.info.run_id, str(artifact))
        failed_after = time.monotonic() - began
    finally:
        watchdog.cancel()
        s3.signal_group(signal.SIGCONT)
    bucket = fault_platform.s3.client("s3")
    assert "Contents" not in bucket.list_objects_v2(Bucket=fault_platform.bucket, Prefix=key)
    orphans = bucket.list_multipart_uploads(Bucket=fault_platform.bucket).get("Uploads", [])
    # The cut upload leaves parts behind; on S3 the stack's lifecycle rule (every key) aborts them.
    lifecycle = prod.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").plain_inputs["rules"]
    abort = next(r for r in lifecycle if "abortIncompleteMultipartUpload" in r)
    assert abort["filter"] == {} and abort["status"] == "Enabled"
    assert all(upload["Key"].startswith(fault_platform.prefix) for upload in orphans)
    assert client.get_run(run.info.run_id).info.status == "RUNNING"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == []
    client.log_artifact(run.info.run_id, str(artifact))
    assert bucket.head_object(Bucket=fault_platform.bucket, Key=key)["ContentLength"] == artifact.stat().st_size
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["model.bin"]
    record("s3-outage-multipart", {"client_error_after_s": round(failed_after, 1),
                                   "orphaned_multipart_uploads": len(orphans), "partial_object_visible": False,
                                   "retry_after_recovery": "succeeded"})
