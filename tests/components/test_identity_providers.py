"""docs/front-doors.md's identity-provider recipes, run at preview as written: each signs people in and names an
admin from a claim its provider sends (settings/providers.py holds what Google's tokens carry)."""

import json
import re

import pytest
import yaml

from conftest import DEPLOYMENT, PROD_SECRETS, container
from harness import ROOT, run_program

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
    assert people["grants_admin"] is True and people["username_claims"] == ["email"]
    args = container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"]
    assert f"--oidc-issuer-url={overrides['ssoIssuerUrl']}" in args


def test_the_google_recipe_could_not_name_admins_by_group() -> None:
    from test_hostile_config import assert_refused
    google = {key.removeprefix(PREFIX): value for key, value in RECIPES["Google"].items()}
    assert_refused("prod", {**PROD_SECRETS, **google, "authAdminUsers": [], "authAdminGroups": ["mlflow-admins"]},
                   "authAdminGroups", "Google's ID tokens carry no groups claim")
