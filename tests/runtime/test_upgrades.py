"""MLflow upgrades from real older databases: what users of an earlier release stored is all there after the
migration Job, and a new run can be logged. The rollback the README documents is run too.

For each release users arrive from (tests/runtime/old_mlflow.py), on PostgreSQL and on MariaDB (the external MySQL
backend): that release's own `mlflow server` creates the schema on the platform's stores and its own client fills
them (tests/runtime/upgrade_fill.py, with a run of BULK_ROWS metric rows, and SQL_ROWS more added with SQL, for a
realistic migration time). Then the declared migration Job runs, with the pinned MLflow, and the declared server
starts on the result; the current client reads it back. Timings go to build/upgrades.json; docs/operations.md
reports them. The rollback through the pre-upgrade dump is the in-cluster PostgreSQL's (its backup CronJob's dump).
"""

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from harness import ROOT, ProgramRun
from runtime.fixtures import skip_or_fail
from runtime.old_mlflow import UPGRADE_FROM, old_bin, unavailable_reason
from runtime.platform import Platform, RunningServer, local_platform, mlflow_heads, stopping

pytestmark = pytest.mark.runtime
RESULTS = ROOT / "build" / "upgrades.json"
BULK_ROWS = 100_000
# Rows added with SQL on top, for how the migration scales (one revision indexes the whole metrics table).
SQL_ROWS = 1_000_000
FILL_SCRIPT = Path(__file__).with_name("upgrade_fill.py")
# The metric rows SQL adds to the bulk run, per engine (`key` is a reserved word in MySQL; MariaDB's SEQUENCE engine
# plays generate_series).
SQL_FILL = {
    "postgresql": "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                  "SELECT 'sql', n, 1700000000000 + n, %s, n, false FROM generate_series(1, %s) AS n",
    "mysql": "INSERT INTO metrics (`key`, value, timestamp, run_uuid, step, is_nan) "
             "SELECT 'sql', seq, 1700000000000 + seq, %s, seq, 0 FROM seq_1_to_{rows}",
}
METRIC_COUNTS = {
    "postgresql": "SELECT key, count(*) FROM metrics WHERE run_uuid = %s GROUP BY key ORDER BY key",
    "mysql": "SELECT `key`, count(*) FROM metrics WHERE run_uuid = %s GROUP BY `key` ORDER BY `key`",
}
POSTGRESQL_UPGRADES = [(release, "postgresql") for release in UPGRADE_FROM]


@dataclass
class Upgrade:
    release: str
    engine: str
    platform: Platform[Any]
    server: RunningServer
    filled: dict[str, Any]
    migration_seconds: float
    pre_upgrade_dump: Path


def record(release: str, result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[release] = {**results.get(release, {}), **result}
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))


def release_bin(release: str) -> Path:
    bin_dir = old_bin(release)
    if bin_dir is None:
        skip_or_fail(str(unavailable_reason(release)))
    return bin_dir


def schema_revision(platform: Platform[Any]) -> str:
    return str(platform.postgres.query(platform.database, "SELECT version_num FROM alembic_version")[0][0])


def applied_revisions(old_head: str, new_head: str) -> list[str]:
    """The schema migrations between two heads, oldest first, from the pinned MLflow's own migration scripts."""
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    scripts = ScriptDirectory.from_config(_get_alembic_config("sqlite://"))
    return [f"{script.revision}: {script.doc}" for script in reversed(list(scripts.iterate_revisions(new_head, old_head)))]


@pytest.fixture(scope="module", params=[*POSTGRESQL_UPGRADES, *((release, "mysql") for release in UPGRADE_FROM)],
                ids=lambda param: f"{param[0]}-{param[1]}")
def upgrade(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgrade]:
    release, engine = request.param
    bin_dir = release_bin(release)
    # The dev stack, or on MariaDB the stack of tests/runtime/test_mysql.py (its max_connections raised to the budget).
    run: ProgramRun = request.getfixturevalue("dev" if engine == "postgresql" else "mysql_run")
    server = request.getfixturevalue("postgres_server" if engine == "postgresql" else "mariadb_server")
    workdir = Path(tmp_path_factory.mktemp(f"upgrade-{release}-{engine}"))
    key = release if engine == "postgresql" else f"{release} on MariaDB"
    with local_platform(run, server, workdir) as platform:
        with stopping(platform.start_plain_server(f"mlflow-{release}", bin_dir=bin_dir)) as old:
            # -I: not the script's directory first on the path, whose platform.py would shadow the standard one.
            fill = subprocess.run([str(bin_dir / "python"), "-I", str(FILL_SCRIPT), old.url, str(BULK_ROWS)],
                                  capture_output=True, text=True, timeout=1200, env=old.env)
            (workdir / "fill.log").write_text(fill.stderr)
            assert fill.returncode == 0, fill.stderr[-3000:]
            filled = json.loads(fill.stdout.splitlines()[-1])
        assert filled["version"] == release
        if engine == "postgresql":
            platform.postgres.query(platform.database, SQL_FILL[engine], filled["bulk_run_id"], SQL_ROWS)
        else:
            platform.postgres.query(platform.database, SQL_FILL[engine].format(rows=SQL_ROWS), filled["bulk_run_id"])
        dump_dir = workdir / "pre-upgrade"
        dump_dir.mkdir()
        if engine == "postgresql":
            # As the owner: the older release's tables carry no grants until the Job below runs.
            dumped = platform.backup(dump_dir, as_owner=True)
            assert dumped.returncode == 0, dumped.stderr

        old_head = schema_revision(platform)
        assert old_head != mlflow_heads()["tracking"]
        migrated, seconds = platform.timed_migrate()
        assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-3000:]
        # The Job did the upgrade, before any server of the new release started (which would do it itself).
        assert schema_revision(platform) == mlflow_heads()["tracking"]
        revisions = applied_revisions(old_head, schema_revision(platform))
        assert revisions and revisions[-1].startswith(mlflow_heads()["tracking"]), revisions
        rerun, rerun_seconds = platform.timed_migrate()
        assert rerun.returncode == 0  # again, as on every rollout: nothing left to do
        record(key, {"migration_seconds": seconds, "rerun_seconds": rerun_seconds,
                         "revisions": revisions,
                         "metric_rows": BULK_ROWS + SQL_ROWS + 3 * 50, "fill_seconds_bulk": filled["bulk_seconds"]})
        with stopping(platform.start_server(f"upgraded-from-{release}")) as running:
            yield Upgrade(release, engine, platform, running, filled, seconds, dump_dir / "tracking.dump")


@pytest.fixture(autouse=True)
def tracking_uri(upgrade: Upgrade) -> Iterator[None]:
    """mlflow-artifacts:/ URIs resolve against the global tracking URI, not a client's."""
    mlflow.set_tracking_uri(upgrade.server.url)
    yield
    mlflow.set_tracking_uri(None)


def test_everything_the_older_release_stored_is_read_back(upgrade: Upgrade) -> None:
    client = MlflowClient(upgrade.server.url)
    filled = upgrade.filled
    experiment = client.get_experiment(filled["experiment_id"])
    assert (experiment.name, experiment.tags["team"], experiment.tags["source"]) == ("upgrade", "ml", upgrade.release)

    for name, run_id in filled["runs"].items():
        index = int(name.split("-")[1])
        run = client.get_run(run_id)
        assert run.info.run_name == name and run.info.status == "FINISHED"
        assert run.data.params == {"lr": str(0.1 * (index + 1)), "layers": "4"}
        assert {k: run.data.tags[k] for k in ("stage", "index")} == {"stage": "upgrade-test", "index": str(index)}
        history = sorted(client.get_metric_history(run_id, "loss"), key=lambda m: m.step)
        assert [(m.step, m.value, m.timestamp) for m in history] == [
            (step, 1.0 / (step + 1), 1_700_000_000_000 + step) for step in range(50)]
        assert client.download_artifacts(run_id, "notes/readme.txt", str(upgrade.platform.workdir / run_id))
        assert (upgrade.platform.workdir / run_id / "readme.txt").read_text() == f"notes of run {index}"

    versions = sorted(client.search_model_versions("name='upgrade-model'"), key=lambda v: int(v.version))
    assert [(v.version, v.run_id) for v in versions] == [("1", filled["runs"]["run-0"]), ("2", filled["runs"]["run-1"])]
    champion = client.get_model_version_by_alias("upgrade-model", "champion")
    assert (champion.version, champion.tags) == ("2", {"validated": "yes"})
    assert client.get_registered_model("upgrade-model").tags == {"owner": "ml"}

    trace = client.get_trace(filled["trace_id"])
    assert sorted(span.name for span in trace.data.spans) == ["inner", "predict"]
    inner = next(span for span in trace.data.spans if span.name == "inner")
    assert (inner.inputs, inner.outputs) == ({"x": 21}, {"y": 42})

    bulk = client.get_run(filled["bulk_run_id"])
    assert bulk.data.metrics["bulk"] == float(BULK_ROWS - 1)
    rows = upgrade.platform.postgres.query(upgrade.platform.database, METRIC_COUNTS[upgrade.engine],
                                           filled["bulk_run_id"])
    assert [(key, int(count)) for key, count in rows] == [("bulk", BULK_ROWS), ("sql", SQL_ROWS)]


def test_a_new_run_is_logged_after_the_upgrade(upgrade: Upgrade) -> None:
    client = MlflowClient(upgrade.server.url)
    run_id = client.create_run(upgrade.filled["experiment_id"], run_name="after-upgrade").info.run_id
    client.log_param(run_id, "from", upgrade.release)
    client.log_metric(run_id, "accuracy", 0.9, step=1)
    client.log_text(run_id, "written after the upgrade", "after.txt")
    client.set_terminated(run_id)
    run = client.get_run(run_id)
    assert (run.data.params, run.data.metrics, run.info.status) == ({"from": upgrade.release}, {"accuracy": 0.9},
                                                                    "FINISHED")
    assert [a.path for a in client.list_artifacts(run_id)] == ["after.txt"]


@pytest.mark.parametrize("upgrade", POSTGRESQL_UPGRADES, indirect=True, ids=lambda param: f"{param[0]}-{param[1]}")
def test_rollback_restores_the_pre_upgrade_dump_and_runs_the_older_release(upgrade: Upgrade) -> None:
    """docs/operations.md's rollback: schema migrations only go forward, so the older release refuses the upgraded
    database; the dump taken before the upgrade, restored into a fresh database, serves it again."""
    bin_dir = release_bin(upgrade.release)
    platform = upgrade.platform
    with pytest.raises(RuntimeError, match="exited"):
        platform.start_plain_server(f"mlflow-{upgrade.release}-on-upgraded", bin_dir=bin_dir).stop()
    restored = platform.postgres.create_database("mlflow_rollback")
    try:
        platform.postgres.restore(upgrade.pre_upgrade_dump, restored)
        with stopping(platform.on_database(restored).start_plain_server(f"mlflow-{upgrade.release}-restored",
                                                                        bin_dir=bin_dir)) as old:
            client = MlflowClient(old.url)
            runs = client.search_runs([upgrade.filled["experiment_id"]], max_results=100)
            assert sorted(r.info.run_name for r in runs) == ["bulk", "run-0", "run-1", "run-2"]
            assert client.get_model_version_by_alias("upgrade-model", "champion").version == "2"
            assert len(client.get_metric_history(upgrade.filled["runs"]["run-2"], "loss")) == 50
    finally:
        platform.postgres.drop_database(restored)
    record(upgrade.release, {"rollback_restored": True})
