"""docs/front-doors.md's identity-provider recipes, run at preview as written: each signs people in and names an
admin from a claim its provider sends (settings/providers.py holds what Google's tokens carry)."""

import json
import re
from typing import Any

import pytest
import yaml
from oauth2_proxy_rules import bearer_refusal

from conftest import DEPLOYMENT, PROD_SECRETS, SECRET, container, flag_value, mounted_secret_files
from harness import ROOT, run_program
from mlflow_platform.mlflow_server.mlflow_platform_auth import Config, Identity, identity_of

GUIDE = (ROOT / "docs" / "front-doors.md").read_text()
SECTION = GUIDE.split("## Identity providers: recipes", 1)[1].split("\n## ", 1)[0]
RECIPES = {name: yaml.safe_load(block) for name, block in
           re.findall(r"\*\*([\w ]+)\.\*\*.*?```yaml\n(.+?)```", SECTION, re.S)}
PREFIX = "mlflow-platform:"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"


def test_every_provider_has_a_recipe() -> None:
    assert set(RECIPES) == {"Google", "Microsoft Entra ID", "Okta", "Keycloak"}


@pytest.mark.parametrize("provider", sorted(RECIPES))
def test_the_recipe_passes_preview_and_names_an_admin_from_the_providers_issuer(provider: str) -> None:
    overrides = {key.removeprefix(PREFIX): value for key, value in RECIPES[provider].items()}
    run = run_program("prod", {**PROD_SECRETS, "authAdminUsers": [], **overrides})
    config = json.loads(run.one(CONFIGMAP, "mlflow-auth-module").plain_inputs["data"]["identity.json"])
    assert config["admin_users"] or config["admin_groups"]
    (people,) = [i for i in config["issuers"] if i["issuer"] == overrides["ssoIssuerUrl"]]
    assert people["grants_admin"] is True and people["username_claims"][0] == "email"
    args = container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"]
    assert f"--oidc-issuer-url={overrides['ssoIssuerUrl']}" in args


def test_the_google_recipe_could_not_name_admins_by_group() -> None:
    from test_hostile_config import assert_refused
    google = {key.removeprefix(PREFIX): value for key, value in RECIPES["Google"].items()}
    assert_refused("prod", {**PROD_SECRETS, **google, "authAdminUsers": [], "authAdminGroups": ["mlflow-admins"]},
                   "authAdminGroups", "Google's ID tokens carry no groups claim")


# Each provider's tokens as its documentation describes them (docs/front-doors.md names the page): the admin the
# recipe names, signed in through the front door, and the recipe's CI program with client credentials.
ADMINS: dict[str, dict[str, Any]] = {
    "Google": {"email": "mlflow-admin@example.com", "email_verified": True, "sub": "1093", "hd": "example.com"},
    "Microsoft Entra ID": {"email": "mlflow-admin@example.com", "sub": "Yx2p", "oid": "5b1c",
                           "groups": ["11111111-2222-3333-4444-555555555555"]},
    "Okta": {"email": "ada@example.com", "email_verified": True, "sub": "00u1", "groups": ["mlflow-admins"]},
    "Keycloak": {"email": "ada@example.com", "email_verified": True, "sub": "9a8b", "groups": ["/mlflow-admins"]},
}
PROGRAMS: dict[str, dict[str, Any]] = {
    # Google Cloud, "Get an ID token" (--include-email): the service account's e-mail, verified.
    "Google": {"iss": "https://accounts.google.com", "aud": "mlflow", "sub": "1178",
               "email": "ci-trainer@my-project.iam.gserviceaccount.com", "email_verified": True},
    # Entra ID, "Access token claims reference": an app-only v2 token, sub and oid the service principal's.
    "Microsoft Entra ID": {"iss": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
                           "aud": "66666666-7777-8888-9999-000000000000", "idtyp": "app", "roles": ["Runs.Write"],
                           "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "oid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
    # Okta, "Implement the Client Credentials flow": sub and cid are the client ID.
    "Okta": {"iss": "https://example.okta.com/oauth2/default", "aud": "api://default", "sub": "0oa1b2c3d4e5f6g7h8i9",
             "cid": "0oa1b2c3d4e5f6g7h8i9", "scp": ["mlflow"]},
    # Keycloak's service-account token without the email scope (the recipe): sub is the service-account user.
    "Keycloak": {"iss": "https://sso.example.com/realms/acme", "aud": "mlflow", "azp": "ci-trainer",
                 "sub": "3f2b9c1e-8d4a-4b6e-9f0a-1c2d3e4f5a6b", "preferred_username": "service-account-ci-trainer"},
}


def _front_door(provider: str) -> tuple[list[str], dict[str, str], Config]:
    """The recipe's oauth2-proxy flags, the files it reads from its Secret and MLflow's identity config."""
    overrides = {key.removeprefix(PREFIX): value for key, value in RECIPES[provider].items()}
    run = run_program("prod", {**PROD_SECRETS, "authAdminUsers": [], **overrides})
    proxy = run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy")
    files = {path: run.one(SECRET, secret).plain_inputs["stringData"][key]
             for path, (secret, key) in mounted_secret_files(run, proxy).items()}
    config = Config.from_json(run.one(CONFIGMAP, "mlflow-auth-module").plain_inputs["data"]["identity.json"])
    return container(proxy)["args"], files, config


def _mlflow_names(config: Config, claims: dict[str, Any]) -> Identity:
    (issuer,) = [i for i in config.issuers if i.issuer == claims["iss"] and claims["aud"] in i.audiences]
    return identity_of(claims, issuer)


@pytest.mark.parametrize("provider", sorted(RECIPES))
def test_the_recipes_ci_program_passes_oauth2_proxy_and_is_an_mlflow_user_not_an_admin(provider: str) -> None:
    args, files, config = _front_door(provider)
    token = PROGRAMS[provider]
    assert bearer_refusal(args, files, token) is None
    program = _mlflow_names(config, token)
    assert program.username == token.get("email", token["sub"])
    assert not config.is_admin(program)


@pytest.mark.parametrize("provider", sorted(RECIPES))
def test_another_program_of_the_same_issuer_is_refused_at_the_front_door(provider: str) -> None:
    args, files, _ = _front_door(provider)
    stranger = {**PROGRAMS[provider], "sub": "someone-else"}
    stranger.pop("email", None)
    assert bearer_refusal(args, files, stranger) == "invalid email 'someone-else'"


@pytest.mark.parametrize("provider", sorted(RECIPES))
def test_the_recipes_admin_passes_oauth2_proxy_and_is_mlflows_admin(provider: str) -> None:
    args, files, config = _front_door(provider)
    issuer = flag_value({"args": args}, "--oidc-issuer-url")
    person = {**ADMINS[provider], "iss": issuer, "aud": flag_value({"args": args}, "--client-id")}
    assert bearer_refusal(args, files, person) is None
    assert config.is_admin(_mlflow_names(config, person))


def test_a_keycloak_service_account_token_with_the_email_scope_is_refused_by_oauth2_proxy() -> None:
    """Why the recipe removes the email scope: its email_verified false refuses the token, e-mail or not
    (oauth2-proxy#1152)."""
    args, files, _ = _front_door("Keycloak")
    assert bearer_refusal(args, files, {**PROGRAMS["Keycloak"], "email_verified": False}) == (
        "email in id_token (3f2b9c1e-8d4a-4b6e-9f0a-1c2d3e4f5a6b) isn't verified")


def test_without_the_list_no_recipes_program_passes() -> None:
    """The list is what lets them through: the domains never match a sub, nor a service account's address."""
    for provider in RECIPES:
        args, files, _ = _front_door(provider)
        unlisted = [arg for arg in args if not arg.startswith("--authenticated-emails-file=")]
        assert "invalid email" in (bearer_refusal(unlisted, files, PROGRAMS[provider]) or "")
