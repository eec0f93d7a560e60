"""The benchmark's smoke mode, so it cannot rot: one repetition, tiny sizes, the stack against the defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT

pytestmark = pytest.mark.runtime


def test_smoke_run_measures_both_configurations_and_writes_the_report(postgres_server: object, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--configs", "stack-dev,mlflow-defaults",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    by_config = {run["config"]: run for run in results["runs"]}
    assert by_config.keys() == {"stack-dev", "mlflow-defaults"}
    for run in by_config.values():
        assert run["cold"]["healthy_s"] > 0 and run["idle"]["processes"] >= 2
        assert all(op["requests"] > 0 and op["errors"] == 0 for op in run["operations"].values())
        assert all(a["upload_mb_s"] > 0 and a["multipart_upload_mb_s"] > 0 for a in run["artifacts"].values())
    # The stack's server runs the workers it declares and no job runner: fewer processes than the defaults.
    assert by_config["stack-dev"]["idle"]["processes"] < by_config["mlflow-defaults"]["idle"]["processes"]
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Targets for (a) against (c)" in report and (tmp_path / "latency.png").stat().st_size > 10_000


def test_growth_smoke_fills_a_database_checks_the_copies_and_measures_what_users_wait_for(
        postgres_server: object, tmp_path: Path) -> None:
    """A tiny database under both PostgreSQL settings: the copies read back like their templates (the run stops
    otherwise), every UI page's recorded calls replay without an error, and the report gains its growth section."""
    result = subprocess.run([sys.executable, "-m", "bench", "--growth", "--smoke", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    growth = json.loads((tmp_path / "growth.json").read_text())
    # One database, measured under each setting: the same rows for both.
    assert sorted(run["settings"] for run in growth["runs"]) == ["defaults", "tuned"]
    assert len({(run["rows"]["metrics"], run["fill_s"]) for run in growth["runs"]}) == 1
    for run in growth["runs"]:
        assert run["rows"]["metrics"] > 0 and run["rows"]["runs"] == run["runs"] - 1
        for page in ("ui_runs_page", "ui_run_page", "ui_compare_runs"):
            assert run[page]["calls"] > 0 and run[page]["errors"] == 0, run[page]
            assert any("runs/search" in call or "graphql" in call for call in run[page]["recorded"])
        assert run["log_batch_1000@8"]["errors"] == 0 and run["migration_job_s"] > 0
    by_settings = {run["settings"]: run for run in growth["runs"]}
    assert by_settings["tuned"]["pg_settings"]["shared_buffers"] != by_settings["defaults"]["pg_settings"].get(
        "shared_buffers")
    assert all(isinstance(run["temp_file_statements"], list) for run in growth["runs"])
    assert "## Growth" in (tmp_path / "REPORT.md").read_text() and (tmp_path / "growth.png").stat().st_size > 10_000


def test_scale_out_smoke_drives_the_servers_through_pgbouncer_and_straight(postgres_server: object,
                                                                          tmp_path: Path) -> None:
    """One replica, a few rounds: the pooled path completes every round without an error, both paths are measured,
    and the report gains its scale-out section with the preview's verdicts."""
    result = subprocess.run([sys.executable, "-m", "bench", "--scale-out", "--replicas", "1", "--rounds", "2", "--reps",
                             "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    scale_out = json.loads((tmp_path / "scale_out.json").read_text())
    assert [run["path"] for run in scale_out["runs"]] == ["pooled", "direct"]
    pooled = scale_out["runs"][0]
    assert pooled["errors"] == 0 and pooled["rounds_done"] == scale_out["clients"] * 2
    assert 0 < pooled["peak_connections"] <= 2 * scale_out["pool_size"]
    # Even one pod's pools (2 workers x 2 engines x 41) exceed max_connections 40: only the pooler's layout previews.
    assert scale_out["preview"]["1"]["pooled"] == "accepted"
    assert scale_out["preview"]["1"]["direct"].startswith("refused: postgresMaxConnections")
    assert "## Scale-out" in (tmp_path / "REPORT.md").read_text()


def test_the_statements_that_spill_to_temporary_files_are_read_from_postgresqls_log() -> None:
    """bench/growth.py names the queries that sort beyond work_mem from a real server's log (log_temp_files 0)."""
    from bench.growth import temp_file_statements
    from runtime.fixtures import private_postgres_cluster

    with private_postgres_cluster() as cluster:
        cluster.server.query("postgres", "SELECT 1")
        offset = cluster.log.stat().st_size
        cluster.server.query("postgres", "SET work_mem = '64kB'; SET log_temp_files = 0; "
                                         "SELECT count(*) FROM (SELECT g, 'x' || g FROM generate_series(1, 200000) g\n"
                                         "ORDER BY 2 DESC) sorted WHERE g > 5")
        found = temp_file_statements(cluster.log, offset)
    assert len(found) == 1 and found[0]["files"] >= 1 and found[0]["mib"] > 0, found
    # One line, literals masked, the continuation line joined.
    assert found[0]["statement"].startswith("SET work_mem = ?; SET log_temp_files = ?; SELECT count(*) FROM")
    assert "generate_series(?, ?) g ORDER BY ? DESC" in found[0]["statement"], found
