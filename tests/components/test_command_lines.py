"""The security-relevant command lines, whole: every flag of oauth2-proxy, cloudflared and the MLflow server, per stack
and variant, as exact lists. A flag added, dropped or changed (e.g. `--email-domain=*` in prod) fails here, where a
test of a few flags' presence would pass; a deliberate change updates the list below and is reviewed as such.
"""

from typing import Any

import pytest

from conftest import CLOUDFLARE_FRONT_DOOR, DEPLOYMENT, PROD_SECRETS, SECRET, container
from harness import ProgramRun, run_program

OAUTH2_PROXY_SECRETS = ["--client-secret-file=/etc/oauth2-proxy/secrets/client-secret",
                        "--cookie-secret-file=/etc/oauth2-proxy/secrets/cookie-secret"]
PROD_OAUTH2_PROXY = [
    "--provider=oidc",
    "--client-id=mlflow-platform",
    *OAUTH2_PROXY_SECRETS,  # files from the Secret, never values on the command line
    "--oidc-issuer-url=https://accounts.google.com",
    "--http-address=0.0.0.0:4180",
    "--redirect-url=https://mlflow.example.com/oauth2/callback",
    "--whitelist-domain=mlflow.example.com",  # redirects after sign-in stay on the host
    "--cookie-domain=mlflow.example.com",
    "--cookie-secure=true",  # TLS at the front door
    "--reverse-proxy=true",
    "--skip-provider-button=true",
    "--upstream=http://mlflow.mlflow.svc.cluster.local:5000/",
    # Pulumi.prod.yaml runs the jobs pod: the requests that submit jobs go to it (the longest prefix wins).
    "--upstream=http://mlflow-jobs.mlflow.svc.cluster.local:5000/ajax-api/3.0/jobs",
    "--upstream=http://mlflow-jobs.mlflow.svc.cluster.local:5000/ajax-api/3.0/mlflow/scorer/invoke",
    "--upstream=http://mlflow-jobs.mlflow.svc.cluster.local:5000/ajax-api/3.0/mlflow/issues/invoke",
    "--upstream=http://mlflow-jobs.mlflow.svc.cluster.local:5000/ajax-api/3.0/mlflow/genai/evaluate/invoke",
    "--upstream=http://mlflow-jobs.mlflow.svc.cluster.local:5000/ajax-api/3.0/mlflow/prompt-optimization",
    "--upstream=http://mlflow-jobs.mlflow.svc.cluster.local:5000/api/3.0/mlflow/prompt-optimization",
    "--pass-authorization-header=true",  # the verified ID token reaches MLflow's auth app
    "--skip-jwt-bearer-tokens=true",  # programs' JWTs, verified against the issuers oauth2-proxy trusts
    "--api-route=^/(api|ajax-api)/",  # 401, not a sign-in redirect, for API calls
    "--upstream-timeout=900s",
    "--cookie-refresh=30m",  # a deprovisioned user loses access within it
    "--code-challenge-method=S256",
    "--email-domain=example.com",  # who may sign in: never * in the template
]
SERVER_HOSTS = ("localhost,localhost:*,127.0.0.1,127.0.0.1:*,mlflow,mlflow:*,mlflow.mlflow,mlflow.mlflow:*,"
                "mlflow.mlflow.svc,mlflow.mlflow.svc:*,mlflow.mlflow.svc.cluster.local,mlflow.mlflow.svc.cluster.local:*,"
                "{host},{host}:*,$(POD_IP),$(POD_IP):*,[[]$(POD_IP)],[[]$(POD_IP)]:*,10.96.177.168,10.96.177.168:*")


def server(run: ProgramRun) -> dict[str, Any]:
    return container(run.one(DEPLOYMENT, "mlflow"), "mlflow")


def oauth2_proxy_args(run: ProgramRun) -> list[str]:
    return list(container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"])


def server_args(bucket: str, host: str, origin: str) -> list[str]:
    return ["server", "--host", "0.0.0.0", "--port", "5000", "--workers", "2", "--serve-artifacts",
            "--artifacts-destination", f"s3://{bucket}/mlflow/",
            # MLflow's host check: the Service's names, the pod's own IP (probes, Prometheus), the ClusterIP and the
            # front door's host; nothing else (docs/security.md).
            "--allowed-hosts", SERVER_HOSTS.format(host=host),
            "--cors-allowed-origins", origin, "--expose-prometheus", "/var/run/mlflow/metrics"]


class TestOauth2Proxy:
    def test_prod(self, prod: ProgramRun) -> None:
        assert oauth2_proxy_args(prod) == PROD_OAUTH2_PROXY
        assert "command" not in container(prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))

    def test_prod_with_groups_under_a_static_prefix(self) -> None:
        keycloak = "https://sso.example.com/realms/acme"  # Google sends no groups (settings/providers.py)
        # Without the jobs pod, which a static prefix rules out (MLflow's job runner ignores it).
        run = run_program("prod", {**PROD_SECRETS, "serverStaticPrefix": "/tools/mlflow", "ssoIssuerUrl": keycloak,
                                   "ssoAllowedGroups": ["mlflow-users"], "serverJobExecution": False})
        expected = [flag for flag in PROD_OAUTH2_PROXY if "mlflow-jobs" not in flag] + ["--allowed-group=mlflow-users"]
        expected[expected.index("--oidc-issuer-url=https://accounts.google.com")] = f"--oidc-issuer-url={keycloak}"
        expected.insert(expected.index("--http-address=0.0.0.0:4180") + 1, "--proxy-prefix=/tools/mlflow/oauth2")
        expected = [flag.replace("/oauth2/callback", "/tools/mlflow/oauth2/callback")
                    .replace("--api-route=^/", "--api-route=^/tools/mlflow/") for flag in expected]
        assert oauth2_proxy_args(run) == expected

    def test_prod_with_programs_allowed(self) -> None:
        """Their list is a file of the Secret, listed once whatever its length (docs/front-doors.md)."""
        run = run_program("prod", {**PROD_SECRETS, "ssoAllowedPrograms": ["0oa1b2c3", "ci@example.org"]})
        assert oauth2_proxy_args(run) == [
            *PROD_OAUTH2_PROXY, "--authenticated-emails-file=/etc/oauth2-proxy/secrets/allowed-programs"]
        secret = run.one(SECRET, "mlflow-ingress-oauth2-proxy").plain_inputs["stringData"]
        assert secret["allowed-programs"] == "0oa1b2c3\nci@example.org\n"

    @pytest.mark.parametrize("domains", [["*"], ["example.com", "*"]])
    def test_every_account_of_the_provider_is_refused_in_prod_unless_accepted(self, domains: list[str]) -> None:
        from test_hostile_config import assert_refused
        assert_refused("prod", {**PROD_SECRETS, "ssoEmailDomains": domains}, "ssoEmailDomains",
                       "lets in every account your provider has")


class TestCloudflared:
    def test_prod_with_a_tunnel(self) -> None:
        """The tunnel token is a file from the Secret (TUNNEL_TOKEN_FILE), never the command line or a variable."""
        run = run_program("prod", CLOUDFLARE_FRONT_DOOR)
        connector = container(run.one(DEPLOYMENT, "mlflow-ingress-cloudflared"))
        assert connector["args"] == ["tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000", "run"]
        assert connector["env"] == [{"name": "TUNNEL_TOKEN_FILE", "value": "/etc/cloudflared/token/tunnel-token"}]


class TestMlflowServer:
    def test_prod(self, prod: ProgramRun) -> None:
        container_ = server(prod)
        assert container_["command"] == ["mlflow"]
        # The auth app by its app name; its authorization function is the platform's (the ConfigMap's module).
        assert container_["args"] == [*server_args("acme-mlflow-artifacts-prod", "mlflow.example.com",
                                                   "https://mlflow.example.com"), "--app-name", "basic-auth"]

    def test_dev(self, dev: ProgramRun) -> None:
        assert server(dev)["command"] == ["mlflow"]
        assert server(dev)["args"] == server_args("mlflow-artifacts", "mlflow.localtest.me", "http://mlflow.localtest.me")
