"""Requests to a server running MLflow's auth app, as the identities the runtime tests sign in with."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from runtime.identity_provider import IdentityProvider
from runtime.platform import RunningServer

PROGRAMS = "mlflow-ci"
"""The audience of programs' (and, through oauth2-proxy, people's) tokens."""
ADMIN = "admin@example.com"


WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"
"""What the MLflow client sends for MLFLOW_WORKSPACE (mlflow/utils/workspace_utils.py)."""


def call(server: RunningServer, method: str, path: str, token: str | None = None, header: str = "Authorization",
         workspace: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {header: f"Bearer {token}" if header == "Authorization" else token} if token else {}
    if workspace:
        headers[WORKSPACE_HEADER] = workspace
    return requests.request(method, f"{server.url}{path}", headers=headers, timeout=30, **kwargs)


def person(providers: dict[str, IdentityProvider], name: str, *groups: str) -> str:
    return providers["sso"].token(name, PROGRAMS, email=f"{name}@example.com", groups=list(groups))


def admin(providers: dict[str, IdentityProvider]) -> str:
    return providers["sso"].token("admin", PROGRAMS, email=ADMIN)


def create_experiment(server: RunningServer, token: str, name: str, workspace: str | None = None) -> str:
    created = call(server, "POST", "/api/2.0/mlflow/experiments/create", token, workspace=workspace, json={"name": name})
    assert created.status_code == 200, created.text
    return str(created.json()["experiment_id"])


def grant(server: RunningServer, token: str, username: str, experiment_id: str, permission: str) -> requests.Response:
    """MLflow's own permission API (mlflow/server/auth/routes.py): revoke any grant, then grant."""
    body = {"username": username, "resource_type": "experiment", "resource_id": experiment_id}
    call(server, "POST", "/api/3.0/mlflow/users/permissions/revoke", token, json=body)
    return call(server, "POST", "/api/3.0/mlflow/users/permissions/grant", token, json={**body, "permission": permission})


SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


def signed_in_by(issuer: str) -> dict[str, Any]:
    """Stack config: the auth app on, people and programs signing in with `issuer`'s tokens, ADMIN an admin."""
    return {"authEnabled": True, "authAdminUsers": [ADMIN], "authAdminIssuers": [issuer],
            "authTrustedIssuers": [f"{issuer}={PROGRAMS}"]}


@contextmanager
def tracking_token(token: str | None) -> Iterator[None]:
    """The MLflow client sends `token` (MLFLOW_TRACKING_TOKEN) while the block runs; nothing changes for None."""
    before = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = before
