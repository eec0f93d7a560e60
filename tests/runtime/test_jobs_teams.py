"""Server-side jobs with teams (authWorkspaces: --enable-workspaces): the run judge and GenAI evaluate of a team
member, in the team's workspace, on the stack's API and jobs servers with the auth app, real PostgreSQL and tokens
from a real OpenID provider (the setting of tests/runtime/test_jobs_auth.py, whose helpers this reuses).

MLflow 3.17.2 records the workspace a job was submitted in and runs it there (mlflow/server/jobs/__init__.py and
_executor_runner.py: `job.workspace` when workspaces are on, bound with ServerWorkspaceContext)."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest

from harness import ProgramRun, run_program
from mlflow_platform.mlflow_server.hosts import LISTEN_ADDRESS
from runtime.auth_calls import ADMIN, PROGRAMS, admin, call, person
from runtime.identity_provider import IdentityProvider
from runtime.platform import Platform, RunningServer, local_platform, stopping
from runtime.services import PostgresServer
from runtime.test_jobs_auth import CA_IN_CONTAINER, SSO_CLIENT, judge, llm, sso, wait_for  # noqa: F401 - fixtures

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
    """The team's AI-gateway endpoint, made by an admin in the team's workspace; dana may USE it."""
    from mlflow.entities.gateway_endpoint import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.tracking import MlflowClient

    _, api, _ = servers
    name = "team-judge-llm"
    providers = {"sso": sso}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_TOKEN", admin(providers))
        env.setenv("MLFLOW_WORKSPACE", TEAM)
        store = MlflowClient(api.url)._tracking_client.store
        secret = store.create_gateway_secret(secret_name=f"{name}-key", secret_value={"api_key": "sk-not-a-real-key"},
                                             provider="openai",
                                             auth_config={"api_base": f"https://localhost:{llm.server_port}/v1"})
        model = store.create_gateway_model_definition(name=f"{name}-model", secret_id=secret.secret_id,
                                                      provider="openai", model_name="gpt-4o-mini")
        created = store.create_gateway_endpoint(name=name, model_configs=[GatewayEndpointModelConfig(
            model_definition_id=model.model_definition_id, linkage_type=GatewayModelLinkageType.PRIMARY)])
    # dana signs in once, so that MLflow knows her.
    assert call(api, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", person(providers, "dana"),
                workspace=TEAM).status_code == 200
    granted = call(api, "POST", "/api/3.0/mlflow/users/permissions/grant", admin(providers), workspace=TEAM, json={
        "username": "dana@example.com", "resource_type": "gateway_endpoint", "resource_id": created.endpoint_id,
        "permission": "USE"})
    assert granted.status_code == 200, granted.text
    return name


@pytest.fixture(scope="module")
def traced(servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider  # noqa: F811
           ) -> tuple[str, str]:
    """dana's experiment in the team's workspace with one trace, logged with the real client."""
    _, api, _ = servers
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_TOKEN", person({"sso": sso}, "dana"))
        env.setenv("MLFLOW_WORKSPACE", TEAM)
        mlflow.set_tracking_uri(api.url)
        try:
            experiment_id = mlflow.set_experiment(f"vision-judged-{time.time_ns()}").experiment_id

            @mlflow.trace  # type: ignore[untyped-decorator]
            def answer(question: str) -> str:
                return "Thank you for asking! The capital of France is Paris."

            answer("What is the capital of France?")
            trace_id = mlflow.get_last_active_trace_id()
            mlflow.flush_trace_async_logging()
        finally:
            mlflow.set_tracking_uri(previous)
    assert trace_id is not None
    return str(experiment_id), trace_id


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
