"""The cost of the dedicated jobs pod (serverJobExecution) and how soon online scoring schedules its first job.

Measured on the dev stack with the jobs pod, as the runtime tests start it: its declared command and environment,
its migration Job run first.
"""

import time
from pathlib import Path
from typing import Any

import mlflow

from bench.measure import process_tree
from harness import ProgramRun, run_program
from runtime.clients import start_online_scoring, wait_for_online_scoring_job
from runtime.fixtures import JOBS_STACK
from runtime.platform import local_platform
from runtime.services import PostgresServer


def jobs_program() -> ProgramRun:
    """Run once at the start, like the configurations' programs: the code may change while the benchmark runs."""
    return run_program("dev", JOBS_STACK)


def measure_jobs_pod(program: ProgramRun, postgres: PostgresServer, workdir: Path, settle: float) -> dict[str, Any]:
    with local_platform(program, postgres, workdir) as platform:
        assert platform.migrate().returncode == 0
        jobs = platform.start_server("jobs", deployment="mlflow-jobs")
        try:
            result: dict[str, Any] = {"healthy_s": round(jobs.startup_seconds, 2)}
            time.sleep(settle)
            result["idle"] = process_tree(jobs.process.pid)
            mlflow.set_tracking_uri(jobs.url)
            try:
                experiment_id = mlflow.create_experiment(f"online-scoring-{time.time_ns()}")
                started = time.monotonic()
                start_online_scoring(experiment_id)
                waited = wait_for_online_scoring_job(jobs.url, experiment_id)
                result["online_scoring_first_job_s"] = (None if waited is None
                                                        else round(time.monotonic() - started, 1))
            finally:
                mlflow.set_tracking_uri(None)
            result["after_first_job"] = process_tree(jobs.process.pid)
        finally:
            jobs.stop()
    return result
