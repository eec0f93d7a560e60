"""MLflow's server-side jobs (serverJobExecution): the API server and the jobs server as the stack declares them,
run side by side against real PostgreSQL, as the front door routes to them.

What MLflow 3.17.2 does (read in its source): a job is accepted only by a server whose environment has job
execution on (mlflow/server/jobs/__init__.py submit_job), and that server's own runner executes it; the
periodic scheduler (online scoring) runs wherever job execution is on.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests

from mlflow_platform.mlflow_server import JOB_ROUTES
from runtime.clients import start_online_scoring, wait_for_online_scoring_job
from runtime.platform import Platform, RunningServer, stopping
from runtime.services import session_pids

pytestmark = pytest.mark.runtime

# mlflow/entities/_job_status.py: the states a job ends in.
FINISHED = {"SUCCEEDED", "FAILED", "TIMEOUT", "CANCELED"}


@pytest.fixture(scope="module")
def servers(jobs_platform: Platform) -> Iterator[tuple[RunningServer, RunningServer]]:
    with stopping(jobs_platform.start_server("api")) as api, \
            stopping(jobs_platform.start_server("jobs", deployment="mlflow-jobs")) as jobs:
        yield api, jobs


def command_lines(server: RunningServer) -> list[str]:
    lines = []
    for pid in session_pids(server.process.pid):
        try:
            lines.append((Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return lines


def submit(server: RunningServer, experiment_id: str = "0") -> requests.Response:
    """What the UI's "run judge" sends through the job API (mlflow/server/job_api.py submit_job)."""
    body: dict[str, Any] = {"job_name": "invoke_scorer",
                            "params": {"experiment_id": experiment_id, "serialized_scorer": "{}", "trace_ids": []}}
    return requests.post(f"{server.url}/ajax-api/3.0/jobs/", json=body, timeout=30)


def test_the_api_server_refuses_jobs_so_the_front_door_must_route_them(
        servers: tuple[RunningServer, RunningServer]) -> None:
    api, _ = servers
    refused = submit(api)
    assert refused.status_code >= 400
    assert "job execution feature is not enabled" in refused.text
    assert any(route.startswith("/ajax-api/3.0/jobs") for route in JOB_ROUTES)


def test_the_jobs_server_accepts_a_job_and_its_runner_executes_it(
        servers: tuple[RunningServer, RunningServer]) -> None:
    """The scorer given is empty, so the job fails inside the runner: proof that it ran, not just queued."""
    _, jobs = servers
    accepted = submit(jobs)
    assert accepted.status_code == 200, accepted.text
    job_id = accepted.json()["job_id"]
    deadline = time.monotonic() + 180
    status = accepted.json()["status"]
    while status not in FINISHED and time.monotonic() < deadline:
        time.sleep(2)
        status = requests.get(f"{jobs.url}/ajax-api/3.0/jobs/{job_id}", timeout=30).json()["status"]
    assert status == "FAILED"
    # Any server reads the job from the database: the API pods answer the UI's polling too.
    api, _ = servers
    assert requests.get(f"{api.url}/ajax-api/3.0/jobs/{job_id}", timeout=30).json()["status"] == "FAILED"


def test_the_jobs_server_admits_the_host_its_job_runner_calls_it_by(
        servers: tuple[RunningServer, RunningServer]) -> None:
    """MLflow points the runner at http://<--host>:<--port> (mlflow/server/__init__.py _run_server), and GenAI
    evaluate, issue detection and prompt optimisation call the tracking API there: `Host: 0.0.0.0:5000` as declared
    (here the server listens on loopback, so the header is sent as the pod's processes send it). The API pods never
    run jobs and keep their list."""
    api, jobs = servers
    argv = jobs.declared.command + jobs.declared.args
    host = f"{argv[argv.index('--host') + 1]}:{jobs.declared_port}"
    assert host == "0.0.0.0:5000"
    path = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(f"{jobs.url}{path}", headers={"Host": host}, timeout=30).status_code == 200
    assert requests.get(f"{api.url}{path}", headers={"Host": host}, timeout=30).status_code == 403


def test_only_the_jobs_server_runs_a_job_runner_and_the_periodic_scheduler(
        servers: tuple[RunningServer, RunningServer]) -> None:
    api, jobs = servers
    assert not [line for line in command_lines(api) if "huey" in line or "_job_runner" in line]
    jobs_lines = command_lines(jobs)
    assert [line for line in jobs_lines if "mlflow.server.jobs._job_runner" in line]
    assert [line for line in jobs_lines if "_periodic_tasks_consumer" in line or "periodic" in line]


def test_online_scoring_started_through_the_api_server_is_scheduled_by_the_jobs_server(
        servers: tuple[RunningServer, RunningServer]) -> None:
    """The user starts a judge through the front door's default route (an API pod); only the jobs pod runs the
    scheduler, which reads the active scorers from the database and submits the scoring job to its own runner."""
    api, jobs = servers
    mlflow.set_tracking_uri(api.url)
    try:
        experiment_id = mlflow.create_experiment(f"online-scoring-{time.time_ns()}")
        start_online_scoring(experiment_id)
    finally:
        mlflow.set_tracking_uri(None)
    assert wait_for_online_scoring_job(jobs.url, experiment_id) is not None
