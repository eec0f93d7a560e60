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
    assert [run["settings"] for run in growth["runs"]] == ["defaults", "tuned"]
    for run in growth["runs"]:
        assert run["rows"]["metrics"] > 0 and run["rows"]["runs"] == run["runs"] - 1
        for page in ("ui_runs_page", "ui_run_page", "ui_compare_runs"):
            assert run[page]["calls"] > 0 and run[page]["errors"] == 0, run[page]
            assert any("runs/search" in call or "graphql" in call for call in run[page]["recorded"])
        assert run["log_batch_1000@8"]["errors"] == 0 and run["migration_job_s"] > 0
    assert growth["runs"][1]["pg_settings"]["shared_buffers"] != growth["runs"][0]["pg_settings"].get("shared_buffers")
    assert "## Growth" in (tmp_path / "REPORT.md").read_text() and (tmp_path / "growth.png").stat().st_size > 10_000
