"""Identity end to end: the server as a stack with `authEnabled` declares it, MLflow's auth app with the
identity module, against real PostgreSQL, with tokens minted by real OpenID providers on loopback.

Modes exercised: a person signed in by the front door (the ID token oauth2-proxy passes as `Authorization:
Bearer`, --pass-authorization-header: here the SSO provider over HTTPS, as ssoIssuerUrl must be), a program's
bearer JWT from the same provider (another audience) or from another issuer, and an in-cluster job's projected
service-account token.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests
from mlflow.tracking import MlflowClient

from harness import ROOT, ProgramRun, run_program
from runtime.auth_calls import ADMIN, PROGRAMS, SEARCH, admin, call, create_experiment, grant, person
from runtime.clients import PROMETHEUS_HEADERS, kubelet_probe
from runtime.generated import POD_IP
from runtime.identity_provider import IdentityProvider, cloudflare_access_like_provider, identity_provider
from runtime.platform import (
    CONFIGMAP,
    Platform,
    RunningServer,
    local_platform,
    migrated_server,
    start_metrics_sidecar,
    stopping,
)
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime

TRAINER = "system:serviceaccount:training:trainer"
PERMISSIONS_BOT = "system:serviceaccount:training:permissions-bot"
"""A ServiceAccount named in authAdminUsers: an admin, named by the cluster's issuer alone."""
SSO_CLIENT = "mlflow-platform-sso"
"""ssoClientId: the audience of the ID tokens of people oauth2-proxy signed in."""
CA_IN_CONTAINER = "/tmp/identity-provider-ca.pem"
"""Where the server finds the SSO provider's CA (SSL_CERT_FILE in serverEnv), as a cluster would mount a private CA."""


def user(server: RunningServer, providers: dict[str, IdentityProvider], username: str) -> requests.Response:
    return call(server, "GET", "/api/2.0/mlflow/users/get", admin(providers), params={"username": username})


def refusal(response: requests.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    return str(response.json()["message"])


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, IdentityProvider]]:
    with identity_provider(tls=True) as sso, identity_provider() as ci, identity_provider() as cluster, \
            identity_provider() as stranger, identity_provider(token_lifetime=timedelta(minutes=-5)) as expiring:
        yield {"sso": sso, "ci": ci, "cluster": cluster, "stranger": stranger, "expiring": expiring}


@pytest.fixture(scope="module")
def auth_run(providers: dict[str, IdentityProvider]) -> ProgramRun:
    sso = providers["sso"].issuer
    return run_program("dev", {
        "ssoEnabled": True, "ssoIssuerUrl": sso, "ssoClientId": SSO_CLIENT,
        "ssoClientSecret": {"secure": "v1:sso-client-secret"}, "ssoEmailDomains": ["example.com"],
        "serverEnv": {"SSL_CERT_FILE": CA_IN_CONTAINER},
        "authEnabled": True,
        # The SSO provider again, for programs (docs/front-doors.md, "Tokens for programs"), a CI issuer of its own,
        # and one whose tokens are always expired. Admins only from the SSO provider (authAdminIssuers' default).
        "authTrustedIssuers": [f"{sso}={PROGRAMS}", f"{providers['ci'].issuer}={PROGRAMS}",
                               f"{providers['expiring'].issuer}={PROGRAMS}"],
        "authServiceAccountAudience": "mlflow",
        "authServiceAccountNamespaces": ["training"],
        "oidcIssuerUrl": providers["cluster"].issuer,
        "authAdminUsers": [ADMIN, PERMISSIONS_BOT],
        "authAdminGroups": ["mlflow-admins"],
    })


@pytest.fixture(scope="module")
def auth_server(auth_run: ProgramRun, postgres_server: PostgresServer, providers: dict[str, IdentityProvider],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, RunningServer]]:
    with local_platform(auth_run, postgres_server, Path(tmp_path_factory.mktemp("identity"))) as platform:
        ca_file = providers["sso"].ca_file
        assert ca_file is not None
        shutil.copy(ca_file, platform.cluster.localise(CA_IN_CONTAINER))
        migrated = platform.migrate()
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        with stopping(platform.start_server("auth")) as server:
            yield platform, server


@pytest.fixture
def server(auth_server: tuple[Platform, RunningServer]) -> RunningServer:
    return auth_server[1]


class TestWhoIsLetIn:
    @pytest.mark.parametrize(("method", "path"), [("GET", SEARCH), ("POST", "/api/2.0/mlflow/experiments/create"),
                                                  ("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1")])
    def test_a_request_without_an_identity_is_refused(self, server: RunningServer, method: str, path: str) -> None:
        response = call(server, method, path, json={"name": "anonymous"} if method == "POST" else None)
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHENTICATED"

    @pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
    def test_the_kubelets_probes_pass_without_an_identity(self, server: RunningServer, probe: str) -> None:
        """As the kubelet sends them: the declared path, `Host: <pod IP>:<port>`, no token. A 401 would keep
        every pod unready."""
        assert kubelet_probe(server, probe).status_code == 200

    def test_a_valid_token_is_accepted_and_its_user_created(self, server: RunningServer,
                                                            providers: dict[str, IdentityProvider]) -> None:
        assert call(server, "GET", SEARCH, person(providers, "dana")).status_code == 200
        user = call(server, "GET", "/api/2.0/mlflow/users/get?username=dana@example.com", admin(providers))
        assert user.status_code == 200, user.text
        assert user.json()["user"]["is_admin"] is False

    def test_the_real_mlflow_client_signs_in_with_mlflow_tracking_token(
            self, server: RunningServer, providers: dict[str, IdentityProvider], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", person(providers, "erin"))
        client = MlflowClient(server.url)
        experiment_id = client.create_experiment("erin-experiment")
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "loss", 0.5)
        assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
        with pytest.raises(mlflow.exceptions.MlflowException):
            MlflowClient(server.url).get_experiment(experiment_id)

    def test_a_token_from_another_issuer_is_refused(self, server: RunningServer,
                                                    providers: dict[str, IdentityProvider]) -> None:
        token = providers["stranger"].token("mallory", PROGRAMS, email="mallory@example.com")
        assert call(server, "GET", SEARCH, token).status_code == 401

    def test_a_token_for_another_audience_is_refused(self, server: RunningServer,
                                                     providers: dict[str, IdentityProvider]) -> None:
        token = providers["sso"].token("mallory", "another-application", email="mallory@example.com")
        assert call(server, "GET", SEARCH, token).status_code == 401

    def test_an_expired_token_is_refused(self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        token = providers["expiring"].token("frank", PROGRAMS, email="frank@example.com")
        assert call(server, "GET", SEARCH, token).status_code == 401

    def test_a_token_whose_claims_were_changed_is_refused(self, server: RunningServer,
                                                          providers: dict[str, IdentityProvider]) -> None:
        header, _, signature = person(providers, "gina").split(".")
        import base64
        import json
        forged = base64.urlsafe_b64encode(json.dumps({
            "iss": providers["sso"].issuer, "aud": [PROGRAMS], "email": ADMIN, "exp": 4102444800}).encode()).decode()
        assert call(server, "GET", SEARCH, f"{header}.{forged.rstrip('=')}.{signature}").status_code == 401

    def test_mlflows_own_passwords_are_refused_when_basic_auth_is_off(self, server: RunningServer,
                                                                      auth_server: tuple[Platform, RunningServer]) -> None:
        platform = auth_server[0]
        password = platform.cluster.secrets[("mlflow-auth", "admin-password")]
        response = requests.get(f"{server.url}{SEARCH}", auth=("mlflow-platform-admin", password), timeout=30)
        assert response.status_code == 401

    def test_an_in_cluster_jobs_service_account_token_names_the_service_account(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        token = providers["cluster"].token(TRAINER, "mlflow")
        assert call(server, "GET", SEARCH, token).status_code == 200
        user = call(server, "GET", f"/api/2.0/mlflow/users/get?username={TRAINER}", admin(providers))
        assert user.status_code == 200, user.text
        wrong_audience = providers["cluster"].token(TRAINER, "kubernetes")
        assert call(server, "GET", SEARCH, wrong_audience).status_code == 401
        wrong_issuer = providers["stranger"].token(TRAINER, "mlflow")
        assert call(server, "GET", SEARCH, wrong_issuer).status_code == 401


class TestOneIssuerForPeopleAndPrograms:
    """The SSO provider listed again in authTrustedIssuers for programs: one entry with both audiences. Two entries
    for one issuer left the identity module the last one, and everyone the front door signed in got 401 ("Audience
    doesn't match")."""

    def test_a_person_signed_in_by_the_front_door_and_a_program_of_the_same_provider_are_both_admitted(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        browser = providers["sso"].token("ivy", SSO_CLIENT, email="ivy@example.com")  # what oauth2-proxy passes on
        program = providers["sso"].token("ci-pipeline", PROGRAMS)  # client credentials: no e-mail, named by sub
        assert call(server, "GET", SEARCH, browser).status_code == 200
        assert call(server, "GET", SEARCH, program).status_code == 200
        assert user(server, providers, "ivy@example.com").status_code == 200
        assert user(server, providers, "ci-pipeline").status_code == 200

    def test_the_identity_module_gets_one_entry_for_the_provider_with_both_audiences(
            self, auth_run: ProgramRun, providers: dict[str, IdentityProvider]) -> None:
        import json
        config = json.loads(auth_run.one(CONFIGMAP, "mlflow-auth-module").plain_inputs["data"]["identity.json"])
        entries = [i for i in config["issuers"] if i["issuer"] == providers["sso"].issuer]
        assert [(i["audiences"], i["grants_admin"]) for i in entries] == [([SSO_CLIENT, PROGRAMS], True)]


class TestUnverifiedEmails:
    @pytest.mark.parametrize(("issuer", "audience", "verified"), [("sso", SSO_CLIENT, False), ("sso", PROGRAMS, "false"),
                                                                  ("ci", PROGRAMS, False)])
    def test_a_token_whose_email_is_not_verified_names_nobody(
            self, server: RunningServer, providers: dict[str, IdentityProvider], issuer: str, audience: str,
            verified: bool | str) -> None:
        """Not even by `sub`, where the issuer falls back to it: the token claims an address it does not own."""
        token = providers[issuer].token("newcomer", audience, email=ADMIN, email_verified=verified)
        assert "its email is not verified" in refusal(call(server, "GET", SEARCH, token))
        assert user(server, providers, "newcomer").status_code == 404

    def test_the_same_address_verified_is_admitted(self, server: RunningServer,
                                                   providers: dict[str, IdentityProvider]) -> None:
        token = providers["sso"].token("lena", SSO_CLIENT, email="lena@example.com", email_verified=True)
        assert call(server, "GET", SEARCH, token).status_code == 200


class TestAdminsOnlyFromTheIssuersNamedForThat:
    """authAdminIssuers' default: the SSO provider. MLflow keeps one user per username, admin or not."""

    def test_another_issuers_token_with_an_admins_email_is_refused(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        impostor = providers["ci"].token("ci-admin", PROGRAMS, email=ADMIN)
        assert "may not name admins" in refusal(call(server, "GET", SEARCH, impostor))
        assert call(server, "GET", SEARCH, admin(providers)).status_code == 200  # the real one still is

    def test_another_issuers_token_listing_the_admin_group_makes_no_admin(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        bob = person(providers, "bob")
        experiment_id = create_experiment(server, bob, "bob-ci-groups")
        pretender = providers["ci"].token("ci-eve", PROGRAMS, email="eve@example.com", groups=["mlflow-admins"])
        assert call(server, "GET", SEARCH, pretender).status_code == 200
        assert user(server, providers, "eve@example.com").json()["user"]["is_admin"] is False
        assert grant(server, pretender, "eve@example.com", experiment_id, "MANAGE").status_code == 403

    def test_an_admin_by_group_cannot_be_named_by_another_issuer(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        assert call(server, "GET", SEARCH, person(providers, "gus", "mlflow-admins")).status_code == 200
        assert user(server, providers, "gus@example.com").json()["user"]["is_admin"] is True
        impostor = providers["ci"].token("ci-gus", PROGRAMS, email="gus@example.com")
        assert "may not name admins" in refusal(call(server, "GET", SEARCH, impostor))
        assert user(server, providers, "gus@example.com").json()["user"]["is_admin"] is True

    def test_a_service_account_named_in_admin_users_is_an_admin(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        bot, alice = providers["cluster"].token(PERMISSIONS_BOT, "mlflow"), person(providers, "alice")
        experiment_id = create_experiment(server, person(providers, "bob"), "bob-bot-grants")
        assert call(server, "POST", "/api/2.0/mlflow/runs/create", alice,
                    json={"experiment_id": experiment_id}).status_code == 403
        assert grant(server, bot, "alice@example.com", experiment_id, "EDIT").status_code == 200
        assert call(server, "POST", "/api/2.0/mlflow/runs/create", alice,
                    json={"experiment_id": experiment_id}).status_code == 200

    def test_only_the_clusters_issuer_names_a_service_account(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        """A program issuer's client whose `sub` is a ServiceAccount's name (the admin one here) is refused."""
        for subject in (PERMISSIONS_BOT, TRAINER):
            token = providers["ci"].token(subject, PROGRAMS)
            assert "only the cluster's issuer may assert" in refusal(call(server, "GET", SEARCH, token))


class TestServiceAccountsOnlyFromListedNamespaces:
    """authServiceAccountNamespaces [training], and the platform's own namespace (dev: mlflow)."""

    @pytest.mark.parametrize("subject", [TRAINER, "system:serviceaccount:mlflow:reports"])
    def test_a_listed_namespaces_service_account_is_a_user(self, server: RunningServer,
                                                           providers: dict[str, IdentityProvider], subject: str) -> None:
        assert call(server, "GET", SEARCH, providers["cluster"].token(subject, "mlflow")).status_code == 200

    def test_another_namespaces_service_account_is_refused(self, server: RunningServer,
                                                           providers: dict[str, IdentityProvider]) -> None:
        token = providers["cluster"].token("system:serviceaccount:sandbox:anything", "mlflow")
        assert "ServiceAccounts of namespace 'sandbox' are not MLflow users" in refusal(
            call(server, "GET", SEARCH, token))
        assert user(server, providers, "system:serviceaccount:sandbox:anything").status_code == 404

    @pytest.mark.parametrize("subject", ["system:serviceaccount:training", "system:serviceaccount:training:a:b",
                                         "system:node:worker-1", "alice@example.com"])
    def test_a_subject_that_is_no_service_account_is_refused(self, server: RunningServer,
                                                             providers: dict[str, IdentityProvider],
                                                             subject: str) -> None:
        token = providers["cluster"].token(subject, "mlflow", email="alice@example.com")
        assert "is not a ServiceAccount" in refusal(call(server, "GET", SEARCH, token))


class TestPermissionsInsideMlflow:
    def test_a_read_user_can_read_but_cannot_write(self, server: RunningServer,
                                                   providers: dict[str, IdentityProvider]) -> None:
        bob, alice = person(providers, "bob"), person(providers, "alice")
        experiment_id = create_experiment(server, bob, "bob-reads")
        assert call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}", alice).status_code == 200
        write = call(server, "POST", "/api/2.0/mlflow/runs/create", alice, json={"experiment_id": experiment_id})
        assert write.status_code == 403

    def test_once_the_owner_revokes_read_another_user_can_neither_see_nor_change(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        """Everyone reads by default (authDefaultPermission READ): the owner revokes it for one user with DENY,
        the only resource-level grant below READ MLflow 3.17 accepts (NO_PERMISSIONS is refused there)."""
        bob, alice = person(providers, "bob"), person(providers, "alice")
        experiment_id = create_experiment(server, bob, "bob-private")
        revoked = grant(server, bob, "alice@example.com", experiment_id, "DENY")
        assert revoked.status_code == 200, revoked.text
        assert call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}", alice).status_code == 403
        rename = call(server, "POST", "/api/2.0/mlflow/experiments/update", alice,
                      json={"experiment_id": experiment_id, "new_name": "taken-over"})
        assert rename.status_code == 403
        assert call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}", bob).status_code == 200

    @pytest.mark.parametrize("granter", ["admin-by-email", "admin-by-group"])
    def test_an_admin_from_the_config_can_grant(self, server: RunningServer, providers: dict[str, IdentityProvider],
                                                granter: str) -> None:
        bob, alice = person(providers, "bob"), person(providers, "alice")
        token = admin(providers) if granter == "admin-by-email" else person(providers, "carol", "mlflow-admins")
        experiment_id = create_experiment(server, bob, f"bob-shared-{granter}")
        assert call(server, "POST", "/api/2.0/mlflow/runs/create", alice,
                    json={"experiment_id": experiment_id}).status_code == 403
        granted = grant(server, token, "alice@example.com", experiment_id, "EDIT")
        assert granted.status_code == 200, granted.text
        assert call(server, "POST", "/api/2.0/mlflow/runs/create", alice,
                    json={"experiment_id": experiment_id}).status_code == 200

    def test_a_service_accounts_experiment_is_read_only_to_people_until_an_admin_grants(
            self, server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
        """The same permission model when the identity is a projected service-account token."""
        trainer, alice = providers["cluster"].token(TRAINER, "mlflow"), person(providers, "alice")
        experiment_id = create_experiment(server, trainer, "trainer-owned")
        assert call(server, "POST", "/api/2.0/mlflow/runs/create", alice,
                    json={"experiment_id": experiment_id}).status_code == 403
        assert grant(server, admin(providers), "alice@example.com", experiment_id, "EDIT").status_code == 200
        assert call(server, "POST", "/api/2.0/mlflow/runs/create", alice,
                    json={"experiment_id": experiment_id}).status_code == 200
        # And the other way round: the service account cannot write to a person's experiment.
        person_owned = create_experiment(server, alice, "alice-owned")
        assert call(server, "POST", "/api/2.0/mlflow/runs/create", trainer,
                    json={"experiment_id": person_owned}).status_code == 403

    def test_a_user_who_is_no_admin_cannot_grant(self, server: RunningServer,
                                                 providers: dict[str, IdentityProvider]) -> None:
        bob, mallory = person(providers, "bob"), person(providers, "mallory")
        experiment_id = create_experiment(server, bob, "bob-guarded")
        assert grant(server, mallory, "mallory@example.com", experiment_id, "MANAGE").status_code == 403


def test_prometheus_scrapes_the_metrics_sidecar_since_the_auth_app_guards_metrics(
        auth_server: tuple[Platform, RunningServer], providers: dict[str, IdentityProvider]) -> None:
    """MLflow's auth app answers /metrics only with a token (fail-closed); the sidecar serves the same
    metrics files, as declared in the server's pod, to Prometheus without one."""
    platform, server = auth_server
    assert call(server, "GET", "/metrics").status_code == 401
    assert call(server, "GET", SEARCH, person(providers, "dana")).status_code == 200  # some traffic to count
    process, port = start_metrics_sidecar(platform, server)
    try:
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": f"{POD_IP}:9090",
                                                                            **PROMETHEUS_HEADERS}, timeout=10)
        assert scraped.status_code == 200
        assert 'mlflow_http_request_total{method="GET",status="200"}' in scraped.text
        assert "mlflow_platform_server_up 1.0" in scraped.text
    finally:
        process.stop()


def test_the_example_training_job_signs_in_as_its_service_account(
        auth_server: tuple[Platform, RunningServer], providers: dict[str, IdentityProvider], tmp_path: Path) -> None:
    """examples/training-job as it declares its Job, with the token file the kubelet would mount."""
    _, server = auth_server
    example = run_program("dev", stack_references={"organization/mlflow-platform/dev": {
        "trackingUri": server.url, "namespace": "training", "authTokenAudience": "mlflow"}},
        program_dir=ROOT / "examples" / "training-job")
    job = example.one("kubernetes:batch/v1:Job").plain_inputs["spec"]["template"]["spec"]["containers"][0]
    token_file = tmp_path / "token"
    token_file.write_text(providers["cluster"].token(TRAINER, "mlflow"))
    env = {entry["name"]: entry["value"] for entry in job["env"]} | {"MLFLOW_TOKEN_FILE": str(token_file),
                                                                       "HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    result = subprocess.run([sys.executable, *job["command"][1:]], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    admin_client = call(server, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=training-example",
                        admin(providers))
    experiment_id = admin_client.json()["experiment"]["experiment_id"]
    runs = call(server, "POST", "/api/2.0/mlflow/runs/search", admin(providers), json={"experiment_ids": [experiment_id]})
    (run,) = runs.json()["runs"]
    assert run["data"]["metrics"][0]["key"] == "rmse"
    # The experiment it created is the service account's to manage (MLflow grants MANAGE to a creator).
    granted = call(server, "GET", "/api/3.0/mlflow/users/permissions/get", admin(providers), params={
        "username": TRAINER, "resource_type": "experiment", "resource_id": experiment_id})
    assert granted.status_code == 200, granted.text
    assert "MANAGE" in granted.text
    without = subprocess.run([sys.executable, *job["command"][1:]], env={**env, "MLFLOW_TOKEN_FILE": ""},
                             capture_output=True, text=True, timeout=120)
    assert without.returncode != 0 and "UNAUTHENTICATED" in without.stderr


def test_no_secret_of_the_auth_app_is_on_the_command_line(auth_server: tuple[Platform, RunningServer]) -> None:
    platform, server = auth_server
    argv = " ".join(server.argv)
    for (name, _), value in platform.cluster.secrets.items():
        if name == "mlflow-auth":
            assert value not in argv
    assert "--app-name" in server.argv and os.path.basename(server.argv[0]) == "mlflow"


class TestCloudflareAccessFrontDoor:
    """frontDoor cloudflare: Cloudflare Access signs people in at the edge and sends its JWT in
    `Cf-Access-Jwt-Assertion`; MLflow verifies it against the team's certificates and the AUD tag."""

    AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"

    @pytest.fixture(scope="class")
    def programs(self) -> Iterator[IdentityProvider]:
        """An issuer of programs' tokens (Authorization: Bearer) beside Access."""
        with identity_provider() as programs:
            yield programs

    @pytest.fixture(scope="class")
    def access_server(self, postgres_server: PostgresServer, programs: IdentityProvider,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IdentityProvider, RunningServer]]:
        with cloudflare_access_like_provider() as access:
            run = run_program("dev", {
                "frontDoor": "cloudflare", "ssoEnabled": False, "gatewayClassName": None, "cloudflareTeamDomain": access.issuer,
                "cloudflareAudienceTag": self.AUD, "cloudflareTunnelToken": {"secure": "v1:tunnel-token"},
                "authEnabled": True, "authAdminUsers": [ADMIN], "authTrustedIssuers": [f"{programs.issuer}={PROGRAMS}"],
            })
            with migrated_server(run, postgres_server, Path(tmp_path_factory.mktemp("cloudflare")), "cloudflare") as (_, server):
                yield access, server

    @pytest.mark.parametrize("used_first", ["Cf-Access-Jwt-Assertion", "Authorization"])
    def test_a_token_counts_only_in_its_own_header_even_once_verified(
            self, access_server: tuple[IdentityProvider, RunningServer], programs: IdentityProvider,
            used_first: str) -> None:
        """Verified tokens are cached per process: the cache must not let a token through in a header it was
        refused in once it has been used in its own. One kept-alive connection, so one worker, sees both uses."""
        access, server = access_server
        other = "Authorization" if used_first == "Cf-Access-Jwt-Assertion" else "Cf-Access-Jwt-Assertion"
        if used_first == "Cf-Access-Jwt-Assertion":
            token = access.token("uuid-of-nora", self.AUD, email="nora@example.com")
        else:
            token = programs.token("nora", PROGRAMS, email="nora@example.com")

        def sent_in(header: str) -> dict[str, str]:
            return {header: f"Bearer {token}" if header == "Authorization" else token}

        with requests.Session() as session:
            before = session.get(f"{server.url}{SEARCH}", headers=sent_in(other), timeout=30)
            assert before.status_code == 401
            for _ in range(3):
                assert session.get(f"{server.url}{SEARCH}", headers=sent_in(used_first), timeout=30).status_code == 200
                after = session.get(f"{server.url}{SEARCH}", headers=sent_in(other), timeout=30)
                assert after.status_code == 401, after.text
                assert f"is not trusted for {other}" in after.json()["message"]

    def test_admins_come_from_access_by_default(self, access_server: tuple[IdentityProvider, RunningServer],
                                                programs: IdentityProvider) -> None:
        """authAdminIssuers' default with this front door: Access, not the programs' issuer."""
        _, server = access_server
        impostor = programs.token("ci-admin", PROGRAMS, email=ADMIN)
        assert "may not name admins" in refusal(call(server, "GET", SEARCH, impostor))

    def test_a_person_signed_in_by_access_is_named_by_the_email_claim(
            self, access_server: tuple[IdentityProvider, RunningServer]) -> None:
        access, server = access_server
        token = access.token("uuid-of-ivy", self.AUD, email="ivy@example.com")
        assert call(server, "GET", SEARCH, token, header="Cf-Access-Jwt-Assertion").status_code == 200
        admin_token = access.token("uuid-of-admin", self.AUD, email=ADMIN)
        user = call(server, "GET", "/api/2.0/mlflow/users/get?username=ivy@example.com", admin_token,
                    header="Cf-Access-Jwt-Assertion")
        assert user.status_code == 200, user.text

    def test_a_service_token_is_named_by_its_client_id(self, access_server: tuple[IdentityProvider, RunningServer]) -> None:
        """Access's JWT for a service token has no email, only common_name (the CF-Access-Client-Id)."""
        access, server = access_server
        token = access.token("service-token", self.AUD, common_name="88bf3b6d86161464f6509f7219099e57.access")
        assert call(server, "GET", SEARCH, token, header="Cf-Access-Jwt-Assertion").status_code == 200
        admin_token = access.token("uuid-of-admin", self.AUD, email=ADMIN)
        user = call(server, "GET", "/api/2.0/mlflow/users/get?username=88bf3b6d86161464f6509f7219099e57.access",
                    admin_token, header="Cf-Access-Jwt-Assertion")
        assert user.status_code == 200, user.text

    def test_the_jwt_counts_only_in_the_header_access_sends_it_in(
            self, access_server: tuple[IdentityProvider, RunningServer]) -> None:
        access, server = access_server
        token = access.token("uuid-of-ivy", self.AUD, email="ivy@example.com")
        assert call(server, "GET", SEARCH, token).status_code == 401  # as Authorization: Bearer
        assert call(server, "GET", SEARCH).status_code == 401

    def test_a_jwt_from_another_issuer_is_refused(self, access_server: tuple[IdentityProvider, RunningServer]) -> None:
        _, server = access_server
        with identity_provider() as stranger:
            token = stranger.token("uuid-of-ivy", self.AUD, email="ivy@example.com")
            assert call(server, "GET", SEARCH, token, header="Cf-Access-Jwt-Assertion").status_code == 401

    def test_permissions_hold_for_people_signed_in_by_access(
            self, access_server: tuple[IdentityProvider, RunningServer]) -> None:
        access, server = access_server

        def signed_in(name: str) -> dict[str, str]:
            return {"Cf-Access-Jwt-Assertion": access.token(f"uuid-of-{name}", self.AUD, email=f"{name}@example.com")}

        def post(path: str, who: dict[str, str], body: dict[str, Any]) -> requests.Response:
            return requests.post(f"{server.url}{path}", json=body, headers=who, timeout=30)

        owner, reader, admin_ = signed_in("judy"), signed_in("kim"), {
            "Cf-Access-Jwt-Assertion": access.token("uuid-of-admin", self.AUD, email=ADMIN)}
        created = post("/api/2.0/mlflow/experiments/create", owner, {"name": "judy-through-access"})
        experiment_id = created.json()["experiment_id"]
        assert post("/api/2.0/mlflow/runs/create", reader, {"experiment_id": experiment_id}).status_code == 403
        grant_body = {"username": "kim@example.com", "resource_type": "experiment", "resource_id": experiment_id,
                      "permission": "EDIT"}
        assert post("/api/3.0/mlflow/users/permissions/grant", admin_, grant_body).status_code == 200
        assert post("/api/2.0/mlflow/runs/create", reader, {"experiment_id": experiment_id}).status_code == 200

    def test_a_jwt_for_another_access_application_is_refused(
            self, access_server: tuple[IdentityProvider, RunningServer]) -> None:
        access, server = access_server
        token = access.token("uuid-of-ivy", "another-application-aud", email="ivy@example.com")
        assert call(server, "GET", SEARCH, token, header="Cf-Access-Jwt-Assertion").status_code == 401
