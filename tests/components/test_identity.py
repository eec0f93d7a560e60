"""MLflow's auth app in the prod stack (authEnabled): what the server, the migration Job and the front door get.

The behaviour (who is let in, permissions) runs for real in tests/runtime/test_identity.py; these check
the wiring both stacks declare and that no secret of it is anywhere but in a Secret.
"""

import json
from typing import Any

import pytest
from werkzeug.datastructures import Authorization

from conftest import CLOUDFLARE_FRONT_DOOR, DEPLOYMENT, JOB, PDB, PROD_SECRETS, SECRET, container, env_of, pod_spec
from harness import CLUSTER_OUTPUTS, ProgramRun, is_secret, run_program
from mlflow_platform.mlflow_server.auth import ServerAuth, TrustedIssuer, merge_issuers
from mlflow_platform.mlflow_server.jobs import INTERNAL_TOKEN_ENV as JOBS_INTERNAL_TOKEN_ENV
from mlflow_platform.mlflow_server.mlflow_platform_auth import (
    INTERNAL_TOKEN_ENV,
    JOB_EXECUTION_ENV,
    Config,
    Identity,
    InvalidTokenError,
    Issuer,
    identity_of,
    internal_job_user,
    submits_a_raw_job,
)
from settings import ConfigError
from tools.project_config import ProjectConfigError

SSO = "https://accounts.google.com"
"""Pulumi.prod.yaml's ssoIssuerUrl (its ssoClientId: mlflow-platform)."""

CONFIGMAP = "kubernetes:core/v1:ConfigMap"


def server(run: ProgramRun) -> dict[str, Any]:
    return container(run.one(DEPLOYMENT, "mlflow"), "mlflow")


def identity_config(run: ProgramRun) -> dict[str, Any]:
    data = run.one(CONFIGMAP, "mlflow-auth-module").plain_inputs["data"]
    config: dict[str, Any] = json.loads(data["identity.json"])
    return config


def preview_error(overrides: dict[str, Any], stack: str = "prod") -> str:
    with pytest.raises(ConfigError) as caught:
        run_program(stack, {**(PROD_SECRETS if stack == "prod" else {}), **overrides}, preview=True)
    return str(caught.value)


class TestTheServerRunsTheAuthApp:
    def test_basic_auth_app_with_the_identity_module_on_its_path(self, prod: ProgramRun) -> None:
        spec = server(prod)
        assert spec["args"][spec["args"].index("--app-name") + 1] == "basic-auth"
        env = env_of(spec)
        assert env["PYTHONPATH"]["value"] == "/opt/mlflow-platform"
        assert env["MLFLOW_AUTH_CONFIG_PATH"]["value"] == "/etc/mlflow-platform/auth/basic_auth.ini"
        mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
        assert mounts["/opt/mlflow-platform"] == "auth-module" and mounts["/etc/mlflow-platform/auth"] == "auth-ini"

    def test_the_admin_password_and_flask_key_come_from_the_secret_never_from_arguments(self, prod: ProgramRun) -> None:
        env = env_of(server(prod))
        for variable, key in (("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-password"),
                              ("MLFLOW_FLASK_SERVER_SECRET_KEY", "flask-secret-key")):
            assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-auth", "key": key}
        assert is_secret(prod.one(SECRET, "mlflow-auth").inputs["stringData"])

    def test_the_ini_names_the_auth_database_and_the_identity_function(self, prod: ProgramRun) -> None:
        ini = prod.one(SECRET, "mlflow-auth").plain_inputs["stringData"]["basic_auth.ini"]
        assert "authorization_function = mlflow_platform_auth:authenticate" in ini
        assert "default_permission = READ" in ini
        assert "/mlflow_auth?sslmode=require" in ini  # its own database on the RDS server, over TLS

    def test_readiness_asks_the_one_api_route_the_auth_app_leaves_public(self, prod: ProgramRun, dev: ProgramRun) -> None:
        """A 401 counts as a failed probe: without a token the search call would keep every pod unready."""
        assert server(prod)["readinessProbe"]["httpGet"]["path"] == "/api/3.0/mlflow/server-info"
        assert server(dev)["readinessProbe"]["httpGet"]["path"].startswith("/api/2.0/mlflow/experiments/search")

    def test_the_pods_roll_when_the_identity_config_changes(self, prod: ProgramRun) -> None:
        before = prod.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["template"]["metadata"]["annotations"]
        changed = run_program("prod", {**PROD_SECRETS, "authAdminUsers": ["root@example.com"]})
        after = changed.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["template"]["metadata"]["annotations"]
        assert before["mlflow-platform/identity-config"] != after["mlflow-platform/identity-config"]

    def test_dev_keeps_mlflow_without_the_auth_app(self, dev: ProgramRun) -> None:
        assert "--app-name" not in server(dev)["args"]
        assert not [r for r in dev.of_type(CONFIGMAP) if r.k8s_name == "mlflow-auth-module"]


class TestWhoseTokensNameTheCaller:
    def test_people_through_sso_and_jobs_with_projected_tokens(self, prod: ProgramRun) -> None:
        issuers = {i["issuer"]: i for i in identity_config(prod)["issuers"]}
        sso = issuers["https://accounts.google.com"]
        assert sso["audiences"] == ["mlflow-platform"] and sso["username_claims"] == ["email"]
        cluster = issuers[CLUSTER_OUTPUTS["oidcIssuerUrl"]]
        assert cluster["audiences"] == ["mlflow"] and cluster["username_claims"] == ["sub"]
        assert (identity_config(prod)["admin_users"], identity_config(prod)["admin_groups"]) == (
            ["mlflow-admin@example.com"], [])
        assert identity_config(prod)["allow_basic_auth"] is False
        # GenAI evaluate's tracking calls with MLflow's job credential (docs/operations.md): prod admits them.
        assert identity_config(prod)["job_tracking_calls"] is True

    def test_program_issuers_are_trusted_by_mlflow_and_by_oauth2_proxy(self) -> None:
        run = run_program("prod", {**PROD_SECRETS, "authTrustedIssuers": ["https://login.example.com=mlflow-ci"]})
        program = next(i for i in identity_config(run)["issuers"] if i["issuer"] == "https://login.example.com")
        assert program["audiences"] == ["mlflow-ci"] and program["username_claims"] == ["email", "sub"]
        assert program["grants_admin"] is False
        flags = container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"]
        assert "--extra-jwt-issuers=https://login.example.com=mlflow-ci" in flags

    def test_the_sso_provider_listed_again_for_programs_is_one_entry_with_both_audiences(self) -> None:
        """Two entries for one issuer left the identity module the last: people got 401 ("Audience doesn't match")."""
        run = run_program("prod", {**PROD_SECRETS, "authTrustedIssuers": [f"{SSO}=mlflow-ci", f"{SSO}=mlflow-batch"]})
        (sso,) = [i for i in identity_config(run)["issuers"] if i["issuer"] == SSO]
        assert sso["audiences"] == ["mlflow-platform", "mlflow-ci", "mlflow-batch"]
        assert sso["username_claims"] == ["email", "sub"] and sso["grants_admin"] is True
        flags = container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"]
        assert f"--extra-jwt-issuers={SSO}=mlflow-ci" in flags  # oauth2-proxy checks the other audiences itself

    def test_admins_come_from_the_sso_provider_and_service_accounts_from_the_platforms_namespace(
            self, prod: ProgramRun) -> None:
        issuers = {i["issuer"]: i for i in identity_config(prod)["issuers"]}
        assert issuers[SSO]["grants_admin"] is True
        cluster = issuers[CLUSTER_OUTPUTS["oidcIssuerUrl"]]
        assert cluster["service_account_namespaces"] == ["mlflow"] and cluster["grants_admin"] is False

    def test_named_admin_issuers_and_service_account_namespaces(self) -> None:
        run = run_program("prod", {**PROD_SECRETS, "authTrustedIssuers": ["https://login.example.com=mlflow-ci"],
                                   "authAdminIssuers": ["https://login.example.com"],
                                   "authServiceAccountNamespaces": ["training", "batch"],
                                   "authAdminUsers": ["system:serviceaccount:training:permissions-bot"]})
        issuers = {i["issuer"]: i for i in identity_config(run)["issuers"]}
        assert issuers["https://login.example.com"]["grants_admin"] is True
        assert issuers[SSO]["grants_admin"] is False  # the list replaces the default
        cluster = issuers[CLUSTER_OUTPUTS["oidcIssuerUrl"]]
        assert cluster["service_account_namespaces"] == ["batch", "mlflow", "training"]
        assert cluster["grants_admin"] is True  # it alone names the ServiceAccount of authAdminUsers


class TestTheMigrationJobPreparesTheAuthDatabase:
    def test_tracking_schema_first_then_the_auth_database_then_the_roles(self, prod: ProgramRun) -> None:
        """Each step an init container of the next, so it starts only once the one before succeeded; all of them as
        the owner, whose URIs are in the roles Secret (the server's own, in mlflow-auth, are the app role's)."""
        pod = pod_spec(prod.one(JOB, "mlflow-migrate"))
        assert [c["name"] for c in pod["initContainers"]] == ["migrate", "migrate-auth", "check-schema"]
        assert [c["name"] for c in pod["containers"]] == ["grant-roles"]
        auth = pod["initContainers"][1]
        assert auth["command"] == ["python", "/opt/mlflow-platform/mlflow_platform_auth_db.py"]
        env = env_of(auth)
        owner = {"name": "mlflow-postgres-roles"}
        assert env["MLFLOW_AUTH_DATABASE_URI"]["valueFrom"]["secretKeyRef"] == {**owner, "key": "owner-auth-uri"}
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {**owner, "key": "owner-uri"}


class TestTheFrontDoorPassesAVerifiableIdentity:
    def test_oauth2_proxy_passes_the_verified_token_on_and_nothing_a_client_forged(self, prod: ProgramRun) -> None:
        """--pass-authorization-header: the session's ID token (or the program's own JWT, re-added) goes to
        MLflow as `Authorization: Bearer`, after the client's header is stripped (oauth2-proxy v7.15
        pkg/middleware/headers.go). MLflow verifies it again; no plain header names anyone."""
        flags = container(prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"]
        for flag in ("--pass-authorization-header=true", "--skip-jwt-bearer-tokens=true", "--cookie-refresh=30m",
                     "--code-challenge-method=S256"):
            assert flag in flags
        assert "--set-xauthrequest=true" not in flags

    def test_two_proxies_never_drained_together(self, prod: ProgramRun) -> None:
        assert prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy").plain_inputs["spec"]["replicas"] == 2
        assert prod.one(PDB, "mlflow-ingress-oauth2-proxy").plain_inputs["spec"]["maxUnavailable"] == 1


class TestBadIdentityConfigIsRefusedAtPreview:
    def test_every_account_of_the_provider_needs_an_explicit_opt_in(self) -> None:
        message = preview_error({"ssoEmailDomains": ["*"]})
        assert "mlflow-platform:ssoEmailDomains: [\"*\"] lets in every account" in message
        run_program("prod", {**PROD_SECRETS, "ssoEmailDomains": ["*"], "ssoAllowAnyAccount": True})

    def test_an_auth_app_without_an_admin(self) -> None:
        assert "mlflow-platform:authAdminUsers: name at least one admin" in preview_error({"authAdminUsers": []})

    def test_groups_from_a_provider_whose_tokens_carry_none_would_match_nobody(self) -> None:
        """Google's discovery document lists its ID tokens' claims (claims_supported): no groups. Admin groups
        would make no admin, and oauth2-proxy's allowed groups would let nobody in (settings/providers.py)."""
        message = preview_error({"authAdminUsers": [], "authAdminGroups": ["mlflow-admins"]})
        assert "mlflow-platform:authAdminGroups: Google's ID tokens carry no groups claim" in message
        message = preview_error({"ssoAllowedGroups": ["mlflow-users"]})
        assert "mlflow-platform:ssoAllowedGroups: Google's ID tokens carry no groups claim" in message
        # Another provider's groups are its own business: Keycloak, Okta and Entra ID can send them.
        run_program("prod", {**PROD_SECRETS, "ssoIssuerUrl": "https://sso.example.com/realms/acme",
                             "authAdminGroups": ["mlflow-admins"], "ssoAllowedGroups": ["mlflow-users"]})

    def test_mlflows_own_passwords_only_on_throwaway_stacks(self) -> None:
        assert "mlflow-platform:authAllowBasicAuth:" in preview_error({"authAllowBasicAuth": True})
        run_program("dev", {"authEnabled": True, "authAllowBasicAuth": True})

    def test_a_trusted_issuer_is_issuer_equals_audience(self) -> None:
        message = preview_error({"authTrustedIssuers": ["https://login.example.com"]})
        assert "mlflow-platform:authTrustedIssuers: 'https://login.example.com' is not issuer=audience" in message

    def test_an_unknown_default_permission(self) -> None:
        assert "mlflow-platform:authDefaultPermission: 'WRITE' is not allowed" in preview_error(
            {"authDefaultPermission": "WRITE"})

    def test_the_front_doors_issuer_trusted_another_way_for_programs(self) -> None:
        """Cloudflare Access's tokens come in their own header and are named otherwise: one issuer, one way."""
        message = preview_error({**CLOUDFLARE_FRONT_DOOR,
                                 "authTrustedIssuers": ["https://acme.cloudflareaccess.com=mlflow-ci"]})
        assert ("mlflow-platform:authTrustedIssuers: 'https://acme.cloudflareaccess.com=mlflow-ci': "
                "https://acme.cloudflareaccess.com is the front door's issuer, whose tokens are read another way there "
                "(header 'Authorization' and 'Cf-Access-Jwt-Assertion'") in message

    def test_the_clusters_issuer_as_a_program_issuer(self) -> None:
        cluster = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
        message = preview_error({"oidcIssuerUrl": cluster, "authTrustedIssuers": [f"{cluster}=mlflow-ci"]})
        assert (f"mlflow-platform:authTrustedIssuers: '{cluster}=mlflow-ci': {cluster} is the cluster's "
                "ServiceAccount issuer") in message

    def test_admins_no_issuer_may_name(self) -> None:
        """Without a front door signing people in, the default names no issuer: say which."""
        message = preview_error({"authEnabled": True, "authTrustedIssuers": ["http://localhost:8080=mlflow-ci"],
                                 "authAdminUsers": ["admin@example.com"]}, stack="dev")
        assert ("mlflow-platform:authAdminIssuers: no issuer may name the admins ['admin@example.com'] (the front "
                "door signs nobody in)") in message
        run_program("dev", {"authEnabled": True, "authTrustedIssuers": ["http://localhost:8080=mlflow-ci"],
                            "authAdminUsers": ["admin@example.com"], "authAdminIssuers": ["http://localhost:8080"]})

    def test_every_identity_problem_at_once(self) -> None:
        message = preview_error({
            "authAdminIssuers": ["https://login.example.com", CLUSTER_OUTPUTS["oidcIssuerUrl"], "login.example.com"],
            "oidcIssuerUrl": CLUSTER_OUTPUTS["oidcIssuerUrl"],
            "authServiceAccountNamespaces": ["Training"],
            "authAdminUsers": ["system:serviceaccount:sandbox:bot", "system:serviceaccount:bot"],
        })
        for expected in (
                "authAdminIssuers: 'https://login.example.com' is not a trusted issuer; name the front door's or one "
                f"of mlflow-platform:authTrustedIssuers: {SSO}",
                f"authAdminIssuers: '{CLUSTER_OUTPUTS['oidcIssuerUrl']}' is the cluster's ServiceAccount issuer",
                "authAdminIssuers: 'login.example.com' is not an https:// URL",
                "authServiceAccountNamespaces: 'Training' must be lower-case letters",
                "authAdminUsers: 'system:serviceaccount:bot' is not system:serviceaccount:<namespace>:<name>",
                "authAdminUsers: 'system:serviceaccount:sandbox:bot': ServiceAccounts of namespace 'sandbox' are not "
                "MLflow users; list it in mlflow-platform:authServiceAccountNamespaces"):
            assert f"mlflow-platform:{expected}" in message, (expected, message)

    def test_service_account_keys_without_service_account_tokens(self) -> None:
        message = preview_error({"authServiceAccountAudience": "", "authServiceAccountNamespaces": ["training"],
                                 "authAdminUsers": ["system:serviceaccount:mlflow:bot"]})
        assert ("mlflow-platform:authServiceAccountNamespaces: lists namespaces whose ServiceAccounts would be MLflow "
                "users, and no ServiceAccount token is accepted") in message
        assert ("mlflow-platform:authAdminUsers: 'system:serviceaccount:mlflow:bot' is a ServiceAccount, and "
                "ServiceAccount tokens are not accepted") in message


TEAMS = {"vision": {"members": ["vic@example.com", "group:vision-team"], "managers": ["mona@example.com"]}}


class TestTeamsAsWorkspaces:
    """authWorkspaces; what the roles let members do runs for real in tests/runtime/test_teams.py."""

    @pytest.fixture(scope="class")
    def teams(self) -> ProgramRun:
        return run_program("prod", {**PROD_SECRETS, "authWorkspaces": TEAMS})

    def test_the_server_runs_with_workspaces_and_the_default_workspace_stays_open(self, teams: ProgramRun) -> None:
        assert "--enable-workspaces" in server(teams)["args"]
        ini = teams.one(SECRET, "mlflow-auth").plain_inputs["stringData"]["basic_auth.ini"]
        assert "grant_default_workspace_access = true" in ini

    def test_the_identity_module_and_the_migration_job_get_the_teams(self, teams: ProgramRun) -> None:
        config = identity_config(teams)
        assert config["workspaces"] == {"vision": {"members": ["group:vision-team", "vic@example.com"],
                                                   "managers": ["mona@example.com"]}}
        assert config["default_permission"] == "READ"
        job = teams.one(JOB, "mlflow-migrate").plain_inputs["spec"]["template"]["spec"]
        auth_step = next(c for c in [*job.get("initContainers", []), *job["containers"]] if c["name"] == "migrate-auth")
        assert env_of(auth_step)["MLFLOW_PLATFORM_AUTH_CONFIG"]["value"] == "/opt/mlflow-platform/identity.json"

    def test_without_teams_mlflow_runs_without_workspaces(self, prod: ProgramRun) -> None:
        assert "--enable-workspaces" not in server(prod)["args"]
        assert "workspaces" not in identity_config(prod)
        assert "grant_default_workspace_access" not in prod.one(SECRET, "mlflow-auth").plain_inputs["stringData"][
            "basic_auth.ini"]

    def test_every_bad_team_is_reported_at_once(self) -> None:
        message = preview_error({"authWorkspaces": {
            "Vision_Team": {"members": ["vic@example.com"]},
            "default": {"members": ["vic@example.com"]},
            "empty": {},
            "typo": {"member": ["vic@example.com"]},
            "notlists": {"members": "vic@example.com"},
        }})
        assert "'Vision_Team' is not a workspace name MLflow accepts" in message
        assert "'default' is not a workspace name MLflow accepts" in message
        assert "team 'empty' has no members and no managers" in message
        assert "team 'typo' must be an object with members and managers (not member)" in message
        assert "team 'notlists': members and managers are lists" in message

    def test_teams_need_the_auth_app(self) -> None:
        message = preview_error({"authWorkspaces": TEAMS}, stack="dev")
        assert "mlflow-platform:authWorkspaces: teams need MLflow's auth app: set mlflow-platform:authEnabled true" \
            in message

    def test_a_value_that_is_not_an_object(self) -> None:
        """The CLI refuses it (type: object); the program too, under --skip-config-validation."""
        with pytest.raises(ProjectConfigError, match="'authWorkspaces' must be of type 'object'"):
            run_program("prod", {**PROD_SECRETS, "authWorkspaces": ["vision"]}, preview=True)
        with pytest.raises(ConfigError, match="mlflow-platform:authWorkspaces: '\\[\"vision\"\\]' is not an object"):
            run_program("prod", {**PROD_SECRETS, "authWorkspaces": ["vision"]}, preview=True,
                        skip_config_validation=True)


class TestTheComponentsIssuerRules:
    """ServerAuth and TrustedIssuer as a direct user of MlflowServer builds them (no stack config)."""

    PEOPLE = TrustedIssuer(issuer=SSO, audiences=("web",), grants_admin=True)

    def test_entries_for_one_issuer_merge_when_they_read_its_tokens_alike(self) -> None:
        program = TrustedIssuer(issuer=SSO, audiences=("ci", "web"), username_claims=("email", "sub"), grants_admin=True)
        (merged,) = merge_issuers([self.PEOPLE, program])
        assert merged.audiences == ("web", "ci") and merged.username_claims == ("email", "sub")

    @pytest.mark.parametrize(("other", "difference"), [
        ({"header": "Cf-Access-Jwt-Assertion"}, "header 'Authorization' and 'Cf-Access-Jwt-Assertion'"),
        ({"username_claims": ("sub", "email")}, "username claims ['email'] and ['sub', 'email']"),
        ({"grants_admin": False}, "grants_admin True and False"),
        ({"jwks_uri": f"{SSO}/keys"}, "jwks_uri None and"),
        ({"service_account_namespaces": ("training",)}, "service-account namespaces [] and ['training']"),
    ])
    def test_entries_that_read_its_tokens_differently_are_refused(self, other: dict[str, Any], difference: str) -> None:
        conflicting = TrustedIssuer(**{"issuer": SSO, "audiences": ("ci",), "grants_admin": True, **other})
        with pytest.raises(ValueError, match="one issuer is trusted one way only") as caught:
            ServerAuth(database_uri="postgresql://x", issuers=(self.PEOPLE, conflicting), admin_users=("a@example.com",))
        assert difference in str(caught.value)

    def test_admins_with_no_issuer_that_may_name_them(self) -> None:
        program = TrustedIssuer(issuer="https://login.example.com", audiences=("ci",))
        with pytest.raises(ValueError, match=r"no issuer may name the admins \['a@example.com', 'admins'\]"):
            ServerAuth(database_uri="postgresql://x", issuers=(program,), admin_users=("a@example.com",),
                       admin_groups=("admins",))
        cluster = TrustedIssuer(issuer="https://oidc.example.com", audiences=("mlflow",), username_claims=("sub",),
                                service_account_namespaces=("mlflow",))
        with pytest.raises(ValueError, match="no ServiceAccount issuer may name the admins"):
            ServerAuth(database_uri="postgresql://x", issuers=(self.PEOPLE, cluster),
                       admin_users=("system:serviceaccount:mlflow:bot",))
        with pytest.raises(ValueError, match="'Training' is not a namespace name"):
            TrustedIssuer(issuer="https://oidc.example.com", audiences=("mlflow",), service_account_namespaces=("Training",))


class TestTheIdentityModulesRules:
    """mlflow_platform_auth on verified claims; the same rules run end to end in tests/runtime/test_identity.py."""

    PEOPLE = Issuer(issuer=SSO, audiences=("web",), username_claims=("email", "sub"), grants_admin=True)
    CLUSTER = Issuer(issuer="https://oidc.example.com", audiences=("mlflow",), username_claims=("sub",),
                     service_account_namespaces=("mlflow", "training"))

    def test_an_issuer_listed_twice_is_refused_rather_than_one_entry_replacing_the_other(self) -> None:
        text = json.dumps({"issuers": [{"issuer": SSO, "audiences": ["web"]}, {"issuer": SSO, "audiences": ["ci"]}]})
        with pytest.raises(ValueError, match="issuers listed twice"):
            Config.from_json(text)

    @pytest.mark.parametrize("verified", [False, "false", "False", None, 0])
    def test_an_unverified_email_names_nobody(self, verified: object) -> None:
        with pytest.raises(InvalidTokenError, match="its email is not verified"):
            identity_of({"email": "a@example.com", "email_verified": verified, "sub": "a"}, self.PEOPLE)

    @pytest.mark.parametrize("verified", [True, "true"])
    def test_a_verified_or_unstated_email_names_its_holder(self, verified: object) -> None:
        assert identity_of({"email": "a@example.com", "email_verified": verified}, self.PEOPLE).username == "a@example.com"
        assert identity_of({"email": "a@example.com"}, self.PEOPLE).username == "a@example.com"

    def test_admins_count_only_from_issuers_that_grant_it(self) -> None:
        config = Config(issuers=(self.PEOPLE,), admin_users=frozenset({"a@example.com"}),
                        admin_groups=frozenset({"admins"}))
        assert config.is_admin(Identity("a@example.com", frozenset(), may_be_admin=True))
        assert config.is_admin(Identity("b@example.com", frozenset({"admins"}), may_be_admin=True))
        assert not config.is_admin(Identity("a@example.com", frozenset()))
        assert not config.is_admin(Identity("b@example.com", frozenset({"admins"})))

    @pytest.mark.parametrize(("subject", "problem"), [
        ("system:serviceaccount:sandbox:job", "ServiceAccounts of namespace 'sandbox' are not MLflow users"),
        ("system:serviceaccount:training", "is not a ServiceAccount"),
        ("system:serviceaccount::job", "is not a ServiceAccount"),
        ("system:serviceaccount:training:job:x", "is not a ServiceAccount"),
        ("alice", "is not a ServiceAccount"),
    ])
    def test_service_accounts_only_from_the_listed_namespaces(self, subject: str, problem: str) -> None:
        with pytest.raises(InvalidTokenError, match=problem):
            identity_of({"sub": subject}, self.CLUSTER)
        assert identity_of({"sub": "system:serviceaccount:training:job"}, self.CLUSTER).groups == frozenset()

    def test_only_the_clusters_issuer_names_a_service_account(self) -> None:
        with pytest.raises(InvalidTokenError, match="only the cluster's issuer may assert"):
            identity_of({"sub": "system:serviceaccount:mlflow:bot"}, self.PEOPLE)


class TestServerSideJobsUnderTheAuthApp:
    """What the identity module admits of MLflow's job runner, and the job route it keeps to admins (end to end in
    tests/runtime/test_jobs_auth.py)."""

    TOKEN = "f" * 64
    JOBS_POD = {INTERNAL_TOKEN_ENV: TOKEN, JOB_EXECUTION_ENV: "true"}
    CHAT = "/gateway/mlflow/v1/chat/completions"

    @staticmethod
    def basic(password: str, username: str = "dana@example.com") -> Authorization:
        return Authorization("basic", {"username": username, "password": password})

    def test_the_job_runners_credential_names_its_user_on_the_gateways_routes(self) -> None:
        assert internal_job_user(self.CHAT, self.basic(self.TOKEN), self.JOBS_POD) == "dana@example.com"
        assert internal_job_user("/gateway/judge/mlflow/invocations", self.basic(self.TOKEN), self.JOBS_POD)
        prefixed = {**self.JOBS_POD, "_MLFLOW_STATIC_PREFIX": "/mlflow"}
        assert internal_job_user(f"/mlflow{self.CHAT}", self.basic(self.TOKEN), prefixed) == "dana@example.com"

    @pytest.mark.parametrize(("path", "authorization", "environ"), [
        ("/api/2.0/mlflow/experiments/search", "token", JOBS_POD),
        ("/ajax-api/3.0/mlflow/scorer/invoke", "token", JOBS_POD),
        ("/mlflow/gateway/mlflow/v1/chat/completions", "token", JOBS_POD),
        (CHAT, "another", JOBS_POD),
        (CHAT, "bearer", JOBS_POD),
        (CHAT, None, JOBS_POD),
        (CHAT, "token", {INTERNAL_TOKEN_ENV: "", JOB_EXECUTION_ENV: "true"}),
        (CHAT, "token", {INTERNAL_TOKEN_ENV: TOKEN, JOB_EXECUTION_ENV: "false"}),
        (CHAT, "token", {INTERNAL_TOKEN_ENV: TOKEN}),
        (CHAT, "empty password", {INTERNAL_TOKEN_ENV: "", JOB_EXECUTION_ENV: "true"}),
    ], ids=["tracking-api", "job-submission", "prefix-not-the-servers", "wrong-token", "bearer", "none",
            "no-token-here", "api-pod", "job-execution-unset", "empty-matches-nothing"])
    def test_nothing_else_is_the_job_runners(self, path: str, authorization: str | None,
                                             environ: dict[str, str]) -> None:
        given = {"token": self.basic(self.TOKEN), "another": self.basic(self.TOKEN[:-1] + "0"),
                 "bearer": Authorization("bearer", token=self.TOKEN), "empty password": self.basic(""),
                 None: None}[authorization]
        assert internal_job_user(path, given, environ) is None

    @pytest.mark.parametrize("peer", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
    def test_with_tracking_calls_on_the_credential_names_its_user_everywhere_from_the_pods_loopback(
            self, peer: str) -> None:
        """GenAI evaluate calls the tracking API with it (mlflow/genai/evaluation/job.py): authJobTrackingCalls."""
        assert internal_job_user("/api/2.0/mlflow/runs/get", self.basic(self.TOKEN), self.JOBS_POD, peer,
                                 tracking_calls=True) == "dana@example.com"

    @pytest.mark.parametrize(("peer", "tracking_calls", "environ"), [
        ("127.0.0.1", False, JOBS_POD),
        ("10.0.3.7", True, JOBS_POD),
        ("192.0.2.2", True, JOBS_POD),
        ("::ffff:10.0.3.7", True, JOBS_POD),
        (None, True, JOBS_POD),
        ("localhost", True, JOBS_POD),
        ("127.0.0.1", True, {INTERNAL_TOKEN_ENV: TOKEN, JOB_EXECUTION_ENV: "false"}),
    ], ids=["setting-off", "another-pod", "another-address", "mapped-remote", "forwarded-or-unknown", "not-an-address",
            "api-pod"])
    def test_off_the_gateway_nothing_else_is_the_job_runners(self, peer: str | None, tracking_calls: bool,
                                                             environ: dict[str, str]) -> None:
        assert internal_job_user("/api/2.0/mlflow/runs/get", self.basic(self.TOKEN), environ, peer,
                                 tracking_calls=tracking_calls) is None

    def test_only_with_the_servers_own_token_from_loopback(self) -> None:
        assert internal_job_user("/api/2.0/mlflow/runs/get", self.basic(self.TOKEN[:-1] + "0"), self.JOBS_POD,
                                 "127.0.0.1", tracking_calls=True) is None

    @pytest.mark.parametrize(("method", "path", "refused"), [
        ("POST", "/ajax-api/3.0/jobs/", True),
        ("POST", "/ajax-api/3.0/jobs", True),
        ("POST", "/ajax-api/3.0/jobs/search", False),
        ("GET", "/ajax-api/3.0/jobs/0b6c", False),
        ("PATCH", "/ajax-api/3.0/jobs/cancel/0b6c", False),
        ("POST", "/ajax-api/3.0/mlflow/scorer/invoke", False),
    ])
    def test_only_the_generic_job_submission_is_kept_to_admins(self, method: str, path: str, refused: bool) -> None:
        assert submits_a_raw_job(method, path, {}) is refused

    def test_the_token_is_the_one_mlflow_names(self) -> None:
        from mlflow.environment_variables import _MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN, MLFLOW_SERVER_ENABLE_JOB_EXECUTION

        assert _MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN.name == INTERNAL_TOKEN_ENV == JOBS_INTERNAL_TOKEN_ENV
        assert MLFLOW_SERVER_ENABLE_JOB_EXECUTION.name == JOB_EXECUTION_ENV

    def test_custom_scorer_code_stays_off_in_every_server_container(self) -> None:
        """MLflow exec()s custom @scorer code in the job runner's processes when its switch is on
        (mlflow/genai/scorers/base.py, _reconstruct_decorator_scorer), where the database's credentials and the job
        credential are: declared false, so serverEnv refuses it and serverEnvFrom cannot set it."""
        from mlflow.environment_variables import MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS

        name = MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS.name
        run = run_program("prod", PROD_SECRETS)
        for deployment in ("mlflow", "mlflow-jobs"):
            assert env_of(container(run.one(DEPLOYMENT, deployment), "mlflow"))[name] == {"name": name, "value": "false"}
        from test_hostile_config import assert_refused
        assert_refused("prod", {**PROD_SECRETS, "serverEnv": {name: "true"}}, "serverEnv", f"{name} is set by the platform")

    def test_every_server_container_declares_it_empty_and_only_the_jobs_pod_admits_its_runners_host(self) -> None:
        run = run_program("prod", PROD_SECRETS)
        for name in ("mlflow", "mlflow-jobs"):
            spec = container(run.one(DEPLOYMENT, name), "mlflow")
            assert env_of(spec)[INTERNAL_TOKEN_ENV] == {"name": INTERNAL_TOKEN_ENV, "value": ""}
            hosts = spec["args"][spec["args"].index("--allowed-hosts") + 1].split(",")
            assert ("0.0.0.0" in hosts and "0.0.0.0:*" in hosts) is (name == "mlflow-jobs"), name
