"""Server-side jobs with `authEnabled`: the API server and the jobs server as the stack declares them, MLflow's auth app
with the identity module, real PostgreSQL, tokens from a real OpenID provider, and an AI-gateway endpoint whose
provider is an OpenAI-compatible stand-in on loopback.

What MLflow 3.17.2 does (read in its source): a judge job calls the AI gateway of its own server with MLflow's
internal credential, `Authorization: Basic <user who submitted it>:<_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN>`, a token
`mlflow server` generates for its workers and job runner only (mlflow/server/__init__.py _run_server;
mlflow/genai/scorers/job.py invoke_scorer_job; mlflow/genai/utils/gateway_utils.py). MLflow's default function admits
it on /gateway/ routes only; with the platform's function configured instead, MLflow never checks it, so the identity
module does (mlflow_platform_auth.internal_job_user).
"""

import base64
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests

from harness import ProgramRun, run_program
from mlflow_platform.mlflow_server.hosts import LISTEN_ADDRESS
from mlflow_platform.mlflow_server.jobs import INTERNAL_TOKEN_ENV
from runtime.auth_calls import ADMIN, PROGRAMS, SEARCH, admin, call, person
from runtime.identity_provider import IdentityProvider, identity_provider, localhost_tls
from runtime.platform import Platform, RunningServer, local_platform, stopping
from runtime.services import PostgresServer, session_pids

pytestmark = pytest.mark.runtime

SSO_CLIENT = "mlflow-platform-sso"
CA_IN_CONTAINER = "/tmp/identity-provider-ca.pem"
# mlflow/entities/_job_status.py: the states a job ends in.
FINISHED = {"SUCCEEDED", "FAILED", "TIMEOUT", "CANCELED"}
VERDICT = {"result": "yes", "rationale": "The answer thanks the user: polite."}


class _ChatCompletions(BaseHTTPRequestHandler):
    """OpenAI's chat completions, answering every judge with VERDICT; what it was sent is kept in `server.calls`."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls.append((self.path, body))  # type: ignore[attr-defined]
        answer = json.dumps({
            "id": "chatcmpl-stand-in", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "stand-in"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(VERDICT)}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadingHTTPServer]:
    """Over HTTPS (MLflow refuses a gateway secret's http api_base), with a CA of its own (`server.ca_file`)."""
    ca_file, context = localhost_tls(tmp_path_factory.mktemp("llm-tls"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatCompletions)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.calls = []  # type: ignore[attr-defined]
    server.ca_file = ca_file  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def sso() -> Iterator[IdentityProvider]:
    with identity_provider(tls=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def jobs_auth_run(sso: IdentityProvider) -> ProgramRun:
    """The dev stack with the auth app (as tests/runtime/test_identity.py states it) and the jobs pod."""
    return run_program("dev", {
        "ssoEnabled": True, "ssoIssuerUrl": sso.issuer, "ssoClientId": SSO_CLIENT,
        "ssoClientSecret": {"secure": "v1:sso-client-secret"}, "ssoEmailDomains": ["example.com"],
        # The judge's provider is a stand-in on loopback, which MLflow's gateway refuses unless told that private
        # addresses are fine (mlflow/gateway/ssrf.py), as for an in-cluster model server.
        "serverEnv": {"SSL_CERT_FILE": CA_IN_CONTAINER, "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "true"},
        "authEnabled": True, "authTrustedIssuers": [f"{sso.issuer}={PROGRAMS}"], "authAdminUsers": [ADMIN],
        "serverJobExecution": True, "postgresMaxConnections": 1100, "authJobTrackingCalls": True,  # as in prod
    })


@pytest.fixture(scope="module")
def servers(jobs_auth_run: ProgramRun, postgres_server: PostgresServer, sso: IdentityProvider, llm: ThreadingHTTPServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, RunningServer, RunningServer]]:
    with local_platform(jobs_auth_run, postgres_server, Path(tmp_path_factory.mktemp("jobs-auth"))) as platform:
        assert sso.ca_file is not None
        # The private CAs the servers trust (SSL_CERT_FILE): the SSO provider's and the model server's.
        Path(platform.cluster.localise(CA_IN_CONTAINER)).write_bytes(
            sso.ca_file.read_bytes() + llm.ca_file.read_bytes())  # type: ignore[attr-defined]
        migrated = platform.migrate()
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        with stopping(platform.start_server("api")) as api, \
                stopping(platform.start_server("jobs", deployment="mlflow-jobs", listen=LISTEN_ADDRESS)) as jobs:
            # Listening on 0.0.0.0 as declared: the runner then calls http://0.0.0.0:<port> as in the pod, and
            # another address of this machine stands for another pod (from_another_pod).
            yield platform, api, jobs


def providers(sso: IdentityProvider) -> dict[str, IdentityProvider]:
    return {"sso": sso}


def gateway_endpoint(api: RunningServer, sso: IdentityProvider, llm: ThreadingHTTPServer, name: str,
                     workspace: str | None = None) -> str:
    """An AI-gateway endpoint an admin makes with MLflow's client (as the UI makes one: a provider key, a model
    definition, an endpoint) on the stand-in provider, in `workspace`; dana may USE it, nobody else."""
    from mlflow.entities.gateway_endpoint import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.tracking import MlflowClient

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_TOKEN", admin(providers(sso)))
        if workspace:
            env.setenv("MLFLOW_WORKSPACE", workspace)
        store = MlflowClient(api.url)._tracking_client.store
        secret = store.create_gateway_secret(secret_name=f"{name}-key", secret_value={"api_key": "sk-not-a-real-key"},
                                             provider="openai",
                                             auth_config={"api_base": f"https://localhost:{llm.server_port}/v1"})
        model = store.create_gateway_model_definition(name=f"{name}-model", secret_id=secret.secret_id,
                                                      provider="openai", model_name="gpt-4o-mini")
        created = store.create_gateway_endpoint(name=name, model_configs=[GatewayEndpointModelConfig(
            model_definition_id=model.model_definition_id, linkage_type=GatewayModelLinkageType.PRIMARY)])
    # dana signs in once, so that MLflow knows her.
    assert call(api, "GET", SEARCH, person(providers(sso), "dana"), workspace=workspace).status_code == 200
    granted = call(api, "POST", "/api/3.0/mlflow/users/permissions/grant", admin(providers(sso)), workspace=workspace,
                   json={"username": "dana@example.com", "resource_type": "gateway_endpoint",
                         "resource_id": created.endpoint_id, "permission": "USE"})
    assert granted.status_code == 200, granted.text
    return name


def dana_traces(api: RunningServer, sso: IdentityProvider, workspace: str | None = None) -> tuple[str, str]:
    """dana's experiment and one trace in it, logged with the real client and her token: (experiment ID, trace ID)."""
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_TOKEN", person(providers(sso), "dana"))
        if workspace:
            env.setenv("MLFLOW_WORKSPACE", workspace)
        mlflow.set_tracking_uri(api.url)
        try:
            experiment_id = mlflow.set_experiment(f"dana-judged-{time.time_ns()}").experiment_id

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


@pytest.fixture(scope="module")
def endpoint(servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider,
             llm: ThreadingHTTPServer) -> str:
    return gateway_endpoint(servers[1], sso, llm, "judge-llm")


@pytest.fixture(scope="module")
def traced(servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider) -> tuple[str, str]:
    return dana_traces(servers[1], sso)


def judge(endpoint: str) -> str:
    """The judge the UI's "run judge" sends (a serialized scorer), on the gateway endpoint."""
    from mlflow.genai.scorers import Guidelines

    return json.dumps(Guidelines(name="polite", guidelines="The response is polite.",
                                 model=f"gateway:/{endpoint}").model_dump())


def wait_for(server: RunningServer, token: str, job_id: str, workspace: str | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while True:
        job = call(server, "GET", f"/ajax-api/3.0/jobs/{job_id}", token, workspace=workspace)
        assert job.status_code == 200, job.text
        if job.json()["status"] in FINISHED or time.monotonic() > deadline:
            return dict(job.json())
        time.sleep(2)


def internal_token(server: RunningServer) -> str:
    """MLflow's internal credential, as the jobs server's processes hold it (their environment)."""
    for pid in session_pids(server.process.pid):
        try:
            environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            name, _, value = entry.decode(errors="replace").partition("=")
            if name == INTERNAL_TOKEN_ENV and value:
                return value
    raise AssertionError("no process of the server holds MLflow's internal token")


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def from_another_pod(server: RunningServer, path: str, headers: dict[str, str]) -> requests.Response:
    """A request that does not come from the server's own loopback: to this machine's other address (the server
    listens on 0.0.0.0 as declared), with the Host header a local call sends."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("198.51.100.1", 9))  # TEST-NET-2; nothing is sent: the kernel only picks the source address
        address = probe.getsockname()[0]
    finally:
        probe.close()
    assert not ipaddress.ip_address(address).is_loopback, "this machine needs a non-loopback address for this test"
    return requests.get(f"http://{address}:{server.port}{path}", timeout=30,
                        headers={**headers, "Host": f"127.0.0.1:{server.port}"})


def chat(server: RunningServer, endpoint: str, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{server.url}/gateway/mlflow/v1/chat/completions", headers=headers, timeout=60, json={
        "model": endpoint, "messages": [{"role": "user", "content": "Is this polite?"}]})


def test_a_users_judge_runs_on_the_jobs_server_and_calls_the_gateway_as_that_user(
        servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider, endpoint: str,
        traced: tuple[str, str], llm: ThreadingHTTPServer) -> None:
    """The UI's "run judge" (/ajax-api/3.0/mlflow/scorer/invoke, routed to the jobs pod), as dana with her token: the
    job runs to SUCCEEDED with the stand-in's verdict, which needs the judge's call to the gateway admitted as dana.
    Fails if the identity module refuses MLflow's internal credential (internal_job_user), or if MLflow's handler
    cannot name dana from the request (the bearer token's identity as request.authorization)."""
    _, api, jobs = servers
    dana = person(providers(sso), "dana")
    experiment_id, trace_id = traced
    before = len(llm.calls)  # type: ignore[attr-defined]
    submitted = call(jobs, "POST", "/ajax-api/3.0/mlflow/scorer/invoke", dana, json={
        "experiment_id": experiment_id, "serialized_scorer": judge(endpoint), "trace_ids": [trace_id],
        "log_assessments": True})
    assert submitted.status_code == 200, submitted.text
    (job,) = submitted.json()["jobs"]
    finished = wait_for(api, dana, job["job_id"])  # any server reads the job; only its creator (or an admin) may
    assert finished["status"] == "SUCCEEDED", finished
    result = finished["result"][trace_id]
    assert result["failures"] == [], result["failures"]
    (assessment,) = result["assessments"]
    assert assessment["feedback"]["value"] == "yes" and assessment["rationale"] == VERDICT["rationale"]
    assert len(llm.calls) > before  # type: ignore[attr-defined]
    assert finished["creator"] == "dana@example.com"
    # And someone else may not read dana's job (MLflow's ownership check on the job routes).
    assert call(api, "GET", f"/ajax-api/3.0/jobs/{job['job_id']}", person(providers(sso), "erin")).status_code == 403


def test_the_internal_credential_counts_only_on_the_jobs_servers_gateway_routes(
        servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider, endpoint: str) -> None:
    """MLflow's own scope for it (mlflow/server/auth/__init__.py _authenticate_fastapi_request), and no more."""
    _, api, jobs = servers
    token = internal_token(jobs)
    assert call(api, "GET", SEARCH, person(providers(sso), "erin")).status_code == 200  # erin is a user
    assert chat(jobs, endpoint, basic("dana@example.com", token)).status_code == 200
    # Its user's permissions still apply: erin may not use the endpoint, an unknown user is nobody.
    assert chat(jobs, endpoint, basic("erin@example.com", token)).status_code == 403
    assert chat(jobs, endpoint, basic("nobody@example.com", token)).status_code == 401
    # Elsewhere only from the pod's own loopback (authJobTrackingCalls, GenAI evaluate's calls), never from another
    # pod nor forwarded, and as its user: erin may not read dana's experiment.
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(f"{jobs.url}{search}", headers=basic("dana@example.com", token), timeout=30).status_code == 200
    for elsewhere in (from_another_pod(jobs, search, basic("dana@example.com", token)),
                      requests.get(f"{jobs.url}{search}", timeout=30,
                                   headers={**basic("dana@example.com", token), "X-Forwarded-For": "10.1.2.3"})):
        assert elsewhere.status_code == 401, elsewhere.text
        assert "on the tracking API only from the jobs pod's loopback" in elsewhere.json()["message"]
    assert from_another_pod(jobs, search, {"Authorization": f"Bearer {person(providers(sso), 'erin')}"}
                            ).status_code == 200  # the address alone refuses nothing
    another = token[:-1] + ("1" if token.endswith("0") else "0")  # one character off
    assert chat(jobs, endpoint, basic("dana@example.com", another)).status_code == 401
    assert chat(api, endpoint, basic("dana@example.com", token)).status_code == 401
    # Every API pod's container declares it empty: nothing but MLflow's own runner's server ever holds one.
    assert api.env[INTERNAL_TOKEN_ENV] == "" and jobs.env[INTERNAL_TOKEN_ENV] == ""


def test_the_generic_job_submission_is_an_admins_only(
        servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider, endpoint: str,
        traced: tuple[str, str]) -> None:
    """POST /ajax-api/3.0/jobs/ starts any job with any parameters for any signed-in user in MLflow 3.17.2, and the
    judge job reads the traces from the database: mallory could have dana's traces judged by a model she picks.
    The routes the UI submits through check the experiment; this one is refused to all but admins."""
    _, _, jobs = servers
    experiment_id, trace_id = traced
    params: dict[str, Any] = {"experiment_id": experiment_id, "serialized_scorer": judge(endpoint),
                              "trace_ids": [trace_id], "username": "mallory@example.com"}
    body = {"job_name": "invoke_scorer", "params": params}
    refused = call(jobs, "POST", "/ajax-api/3.0/jobs/", person(providers(sso), "mallory"), json=body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error_code"] == "PERMISSION_DENIED"
    # Through the checked route, mallory cannot name dana's experiment either (MLflow's own check).
    assert call(jobs, "POST", "/ajax-api/3.0/mlflow/scorer/invoke", person(providers(sso), "mallory"), json={
        "experiment_id": experiment_id, "serialized_scorer": judge(endpoint),
        "trace_ids": [trace_id]}).status_code == 403
    admitted = call(jobs, "POST", "/ajax-api/3.0/jobs/", admin(providers(sso)),
                    json={**body, "params": {**params, "username": ADMIN}})
    assert admitted.status_code == 200, admitted.text


def test_genai_evaluate_runs_under_the_auth_app_as_the_user_who_submitted_it(
        servers: tuple[Platform, RunningServer, RunningServer], sso: IdentityProvider, endpoint: str,
        traced: tuple[str, str], llm: ThreadingHTTPServer) -> None:
    """The UI's "evaluate" (/ajax-api/3.0/mlflow/genai/evaluate/invoke, routed to the jobs pod), as dana: the job calls
    the tracking API at MLFLOW_TRACKING_URI with MLflow's internal credential naming her (mlflow/genai/evaluation/
    job.py), which MLflow admits on /gateway/ only; with authJobTrackingCalls the module admits it from the pod's
    loopback, and the job runs to SUCCEEDED, its run holding the judge's verdict. Fails with the module's 401 (the
    job FAILED, naming the credential) when the setting is off or the loopback check refuses the job's calls.
    Issue detection and prompt optimisation send no credential at all (mlflow/genai/discovery/job.py,
    optimize/job.py) and stay out of reach (docs/operations.md)."""
    _, api, jobs = servers
    dana = person(providers(sso), "dana")
    experiment_id, trace_id = traced
    before = len(llm.calls)  # type: ignore[attr-defined]
    submitted = call(jobs, "POST", "/ajax-api/3.0/mlflow/genai/evaluate/invoke", dana, json={
        "experiment_id": experiment_id, "trace_ids": [trace_id], "serialized_scorers": [judge(endpoint)]})
    assert submitted.status_code == 200, submitted.text
    finished = wait_for(api, dana, submitted.json()["job_id"])
    assert finished["status"] == "SUCCEEDED", finished
    assert finished["creator"] == "dana@example.com"
    assert len(llm.calls) > before  # type: ignore[attr-defined]
    run = call(api, "GET", f"/api/2.0/mlflow/runs/get?run_id={submitted.json()['run_id']}", dana)
    assert run.status_code == 200, run.text
    assert any(metric["key"].startswith("polite") for metric in run.json()["run"]["data"].get("metrics", [])), run.json()
