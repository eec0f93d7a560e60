"""Server-side jobs with teams (authWorkspaces: --enable-workspaces): the run judge and GenAI evaluate of a team
member, in the team's workspace, on the stack's API and jobs servers with the auth app, real PostgreSQL and tokens
from a real OpenID provider (the setting of tests/runtime/test_jobs_auth.py, whose helpers this reuses).

MLflow 3.17.2 records the workspace a job was submitted in and runs it there (mlflow/server/jobs/__init__.py and
_executor_runner.py: `job.workspace` when workspaces are on, bound with ServerWorkspaceContext)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import ProgramRun, run_program
from mlflow_platform.mlflow_server.hosts import LISTEN_ADDRESS
from runtime.auth_calls import ADMIN, PROGRAMS, call, person
from runtime.identity_provider import IdentityProvider
from runtime.platform import Platform, RunningServer, local_platform, stopping
from runtime.services import PostgresServer
from runtime.test_jobs_auth import (  # noqa: F401 - llm and sso are fixtures
    CA_IN_CONTAINER,
    SSO_CLIENT,
    dana_traces,
    gateway_endpoint,
    judge,
    llm,
    sso,
    wait_for,
)

pytestmark = pytest.mark.runtime

TEAM = "vision"


@pytest.fixture(scope="module")
def teams_jobs_run(sso: IdentityProvider) -> ProgramRun:  # noqa: F811 - the imported fixture
    return run_program("dev", {
        "ssoEnabled": True, "ssoIssuerUrl": sso.issuer, "ssoClientId": SSO_CLIENT,
        "ssoClientSecret": {"secure": "v1:sso-client-secret"}, "ssoEmailDomains": ["example.com"],
        "serverEnv": {"SSL_CERT_FILE": CA_IN_CONTAINER, "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "true"},
        "authEnabled": True, "authTrustedIssuers": [f"{sso.issuer}={PROGRAMS}"], "authAdminUsers": [ADMIN],
        "authWorkspaces": {TEAM: {"members": ["dana@example.com"]}},
        "serverJobExecution": True, "postgresMaxConnections": 1100, "authJobTrackingCalls": True,
    })


@pytest.fixture(scope="module")
def servers(teams_jobs_run: ProgramRun, postgres_server: PostgresServer, sso: IdentityProvider,  # noqa: F811
            llm: Any, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
            ) -> Iterator[tuple[Platform, RunningServer, RunningServer]]:
    with local_platform(teams_jobs_run, postgres_server, Path(tmp_path_factory.mktemp("jobs-teams"))) as platform:
        assert sso.ca_file is not None
        Path(platform.cluster.localise(CA_IN_CONTAINER)).write_bytes(sso.ca_file.read_bytes() + llm.ca_file.read_bytes())
        migrated = platform.migrate()
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        with stopping(platform.start_server("api")) as api, \
                stopping(platform.start_server("jobs", deployment="mlflow-jobs", listen=LISTEN_ADDRESS)) as jobs:
            yield platform, api, jobs


@pytest.fixture(scope="module")
def endpoint(servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider,  # noqa: F811
             llm: Any) -> str:  # noqa: F811
    """The team's AI-gateway endpoint, made by an admin in the team's workspace."""
    return gateway_endpoint(servers[1], sso, llm, "team-judge-llm", workspace=TEAM)


@pytest.fixture(scope="module")
def traced(servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider  # noqa: F811
           ) -> tuple[str, str]:
    """dana's experiment in the team's workspace with one trace."""
    return dana_traces(servers[1], sso, workspace=TEAM)


@pytest.mark.parametrize("route", ["scorer/invoke", "genai/evaluate/invoke"])
def test_a_team_members_judge_and_evaluation_run_in_the_teams_workspace(
        servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider,  # noqa: F811
        endpoint: str, traced: tuple[str, str], route: str) -> None:
    _, api, jobs = servers
    dana = person({"sso": sso}, "dana")
    experiment_id, trace_id = traced
    body: dict[str, Any] = {"experiment_id": experiment_id, "trace_ids": [trace_id]}
    body.update({"serialized_scorer": judge(endpoint)} if route == "scorer/invoke"
                else {"serialized_scorers": [judge(endpoint)]})
    submitted = call(jobs, "POST", f"/ajax-api/3.0/mlflow/{route}", dana, workspace=TEAM, json=body)
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["jobs"][0]["job_id"] if route == "scorer/invoke" else submitted.json()["job_id"]
    finished = wait_for(api, dana, job_id, workspace=TEAM)
    assert finished["status"] == "SUCCEEDED", finished
