"""`mlflow gc` on a schedule (gcSchedule): the CronJob's container as declared, against real PostgreSQL and the S3
server with MLflow's user's policy enforced. What MLflow deletes is its own (mlflow/cli/__init__.py `gc`); what the
platform adds is resolving proxied artifact URIs to the bucket, which these tests check object by object."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from harness import ProgramRun, run_program
from runtime.platform import Platform, RunningServer, migrated_server
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def gc_run() -> ProgramRun:
    return run_program("dev", {"gcSchedule": "0 4 * * *", "gcOlderThan": "7d"})


@pytest.fixture(scope="module")
def gc_server(gc_run: ProgramRun, postgres_server: PostgresServer,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, RunningServer]]:
    with migrated_server(gc_run, postgres_server, Path(tmp_path_factory.mktemp("gc")), "gc") as running:
        yield running


def rows(platform: Platform, table: str, run_id: str) -> int:
    return int(platform.postgres.query(platform.database, f"SELECT count(*) FROM {table} WHERE run_uuid = %s",
                                       run_id)[0][0])


def test_gc_purges_what_was_deleted_before_the_retention_and_keeps_everything_else(
        gc_server: tuple[Platform, RunningServer], tmp_path: Path) -> None:
    platform, server = gc_server
    client = MlflowClient(server.url)
    (tmp_path / "model.txt").write_text("weights")

    def logged_run(experiment_id: str) -> str:
        run_id = client.create_run(experiment_id).info.run_id
        client.log_metric(run_id, "loss", 0.5)
        client.log_param(run_id, "lr", "0.1")
        client.log_artifact(run_id, str(tmp_path / "model.txt"))
        return str(run_id)

    kept = client.create_experiment("gc-kept")
    live, old, recent = logged_run(kept), logged_run(kept), logged_run(kept)
    dropped = client.create_experiment("gc-dropped")
    in_dropped = logged_run(dropped)
    client.delete_run(old)
    client.delete_run(recent)
    client.delete_experiment(dropped)
    platform.backdate_deletion(8, [old, in_dropped], dropped)
    platform.backdate_deletion(6, [recent])
    assert all(platform.artifact_keys(run_id) for run_id in (live, old, recent, in_dropped))

    # Not under enforcing_iam(): moto authorizes a batch delete (DeleteObjects, what MLflow sends) against the
    # bucket's ARN, where S3 checks s3:DeleteObject on each key (the policy grants it on the prefix's keys).
    result = platform.gc()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    for purged in (old, in_dropped):
        assert rows(platform, "runs", purged) == 0, purged
        assert rows(platform, "metrics", purged) == rows(platform, "params", purged) == 0, purged
        assert platform.artifact_keys(purged) == [], purged
    assert not platform.postgres.query(platform.database, "SELECT 1 FROM experiments WHERE experiment_id = %s",
                                       int(dropped))
    for remaining in (live, recent):
        assert rows(platform, "runs", remaining) == 1, remaining
        assert platform.artifact_keys(remaining), remaining
    assert client.get_run(live).data.metrics == {"loss": 0.5}
    client.restore_run(recent)  # still within the retention: restorable, with its artifacts
    assert [f.path for f in client.list_artifacts(recent)] == ["model.txt"]
