"""MLflow's auth app, with the identity taken from verified JWTs (mlflow_platform_auth.py).

What the server gets: `--app-name basic-auth`; the auth app's ini (its own database's URI, the
default permission, the authorization function) in a Secret; the admin password and the Flask
secret key generated into that Secret and read from the environment (MLFLOW_AUTH_ADMIN_PASSWORD,
MLFLOW_FLASK_SERVER_SECRET_KEY: mlflow/server/auth/config.py and get_flask_server_secret_key),
never from arguments; the identity module and its config in a ConfigMap on PYTHONPATH.
"""

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlflow_platform.kube.env import secret_env
from mlflow_platform.kube.images import image_fields
from mlflow_platform.validation import dns_label_problem

HERE = Path(__file__).parent
IDENTITY_MODULE = (HERE / "mlflow_platform_auth.py").read_text()
AUTH_DB_SCRIPT = (HERE / "mlflow_platform_auth_db.py").read_text()
METRICS_SCRIPT = (HERE / "mlflow_platform_metrics.py").read_text()
MODULE_DIR = "/opt/mlflow-platform"
INI_DIR = "/etc/mlflow-platform/auth"
INI_KEY = "basic_auth.ini"
ADMIN_USERNAME = "mlflow-platform-admin"
AUTH_DATABASE_ENV = "MLFLOW_AUTH_DATABASE_URI"
# mlflow/server/auth/permissions.py: the values default_permission may take.
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")
# mlflow/store/workspace/abstract_store.py WorkspaceNameValidator; "default" is MLflow's own workspace.
WORKSPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])")
RESERVED_WORKSPACES = ("default", "workspaces", "api", "ajax-api", "static-files")
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
"""Kubernetes' username of a ServiceAccount, the `sub` of its tokens; only the cluster's issuer may assert one."""


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose JWTs identify callers (mlflow_platform_auth.Issuer, as JSON). Two entries for one issuer URL
    become one with the audiences of both when they read its tokens alike, and are refused otherwise."""

    issuer: pulumi.Input[str]
    """From config, or the cluster's OIDC issuer (a cluster-stack output) for service-account tokens."""
    audiences: tuple[pulumi.Input[str], ...]
    """The `aud` values accepted (e.g. the SSO client id, an output of the identity provider's stack)."""
    header: str = "Authorization"
    """The request header the token comes in (Authorization: Bearer, or Cloudflare's Cf-Access-Jwt-Assertion)."""
    username_claims: tuple[str, ...] = ("email",)
    """Claims read for the username, the first one present wins."""
    groups_claim: str = "groups"
    """The claim listing the caller's groups."""
    jwks_uri: str | None = None
    """Where the issuer's keys are; None reads it from the issuer's OpenID discovery document."""
    grants_admin: bool = False
    """Whether its tokens may make an MLflow admin (ServerAuth admin_users, admin_groups): the people's issuer, as a
    rule. MLflow keeps one user per username, so any issuer that may name an admin or list the admins' group
    makes its bearer one; tokens of other issuers that name an admin are refused."""
    service_account_namespaces: tuple[str, ...] = ()
    """Non-empty: the cluster's ServiceAccount issuer, whose tokens name `system:serviceaccount:<ns>:<name>` and are
    accepted only for these namespaces (no other issuer may name a ServiceAccount)."""

    def __post_init__(self) -> None:
        problems = [f"{name!r} is not a namespace name" for name in self.service_account_namespaces
                    if dns_label_problem(name)]
        if problems:
            raise ValueError(f"TrustedIssuer {self.issuer}: " + "; ".join(problems))

    def conflicts(self, other: "TrustedIssuer") -> list[str]:
        """How two entries for one issuer read its tokens differently (nothing: they merge). Username claims are
        compatible when one list extends the other: both name a token the same wherever both name it."""
        shorter, longer = sorted((self.username_claims, other.username_claims), key=len)
        return [
            f"{what} {mine!r} and {theirs!r}" for what, mine, theirs, same in (
                ("header", self.header, other.header, self.header.lower() == other.header.lower()),
                ("username claims", list(self.username_claims), list(other.username_claims),
                 longer[:len(shorter)] == shorter),
                ("groups claim", self.groups_claim, other.groups_claim, self.groups_claim == other.groups_claim),
                ("jwks_uri", self.jwks_uri, other.jwks_uri, self.jwks_uri == other.jwks_uri),
                ("grants_admin", self.grants_admin, other.grants_admin, self.grants_admin == other.grants_admin),
                ("service-account namespaces", list(self.service_account_namespaces),
                 list(other.service_account_namespaces),
                 set(self.service_account_namespaces) == set(other.service_account_namespaces)),
            ) if not same]

    def merged(self, other: "TrustedIssuer") -> "TrustedIssuer":
        """One entry with the audiences of both (and the longer list of username claims)."""
        if problems := self.conflicts(other):
            raise ValueError(f"issuer {self.issuer} is listed twice with different rules ({'; '.join(problems)}): "
                             "one issuer is trusted one way only")
        audiences = tuple(dict.fromkeys((*self.audiences, *other.audiences)))
        return dataclasses.replace(self, audiences=audiences,
                                   username_claims=max(self.username_claims, other.username_claims, key=len))


def merge_issuers(issuers: Sequence[TrustedIssuer]) -> tuple[TrustedIssuer, ...]:
    """One entry per issuer URL (known ones: a URL still an Output is kept as it is), in the order first seen.
    Two entries for one issuer would otherwise leave the identity module one of them: with the SSO provider
    listed again for programs, people signed in through the front door got 401 (their audience was the other's).
    ValueError when two entries read the issuer's tokens differently."""
    merged: dict[object, TrustedIssuer] = {}
    for issuer in issuers:
        key: object = issuer.issuer if isinstance(issuer.issuer, str) else id(issuer)
        merged[key] = merged[key].merged(issuer) if key in merged else issuer
    return tuple(merged.values())


def names_a_service_account(username: str) -> bool:
    return username.startswith(SERVICE_ACCOUNT_PREFIX)


@dataclass(frozen=True)
class Team:
    """A team as an MLflow workspace (mlflow_platform_auth.Team): members get USE on it, managers MANAGE."""

    workspace: str
    """The team's MLflow workspace name."""
    members: tuple[str, ...] = ()
    """Usernames, or group:<name> for everyone whose token lists that group."""
    managers: tuple[str, ...] = ()
    """Usernames or group:<name> with MANAGE on the workspace."""

    def __post_init__(self) -> None:
        problems = []
        if not WORKSPACE_NAME.fullmatch(self.workspace) or self.workspace in RESERVED_WORKSPACES:
            problems.append(f"{self.workspace!r} is not a workspace name MLflow accepts: 2 to 63 characters of a-z, "
                            f"0-9 and inner '-', not one of {', '.join(RESERVED_WORKSPACES)}")
        if not (self.members or self.managers):
            problems.append(f"team {self.workspace!r} has no members and no managers")
        if any(not name.strip() or name != name.strip() or name == "group:" for name in self.members + self.managers):
            problems.append(f"team {self.workspace!r}: a member is empty or has surrounding spaces")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class ServerAuth:
    """MLflow's auth app, with identities from verified JWTs and MLflow's permissions."""

    database_uri: pulumi.Input[str]
    """The auth app's own database (a Pulumi secret); created and migrated by the migration Job."""
    issuers: tuple[TrustedIssuer, ...] = ()
    """Whose JWTs identify callers: the SSO provider, CI's issuer, the cluster's ServiceAccount tokens (one issuer
    given twice becomes one entry with the audiences of both)."""
    default_permission: str = "READ"
    """What a user may do where nobody granted anything: READ, USE, EDIT, MANAGE or NO_PERMISSIONS."""
    admin_users: tuple[str, ...] = ()
    """Usernames (token claims) that are MLflow admins, when an issuer with grants_admin names them."""
    admin_groups: tuple[str, ...] = ()
    """Groups (the issuer's groups claim) whose members are MLflow admins, in tokens of issuers with grants_admin."""
    allow_basic_auth: bool = False
    """MLflow's own username/password as well (dev: to try permissions without an SSO provider)."""
    teams: tuple[Team, ...] = ()
    """Non-empty: the server runs with --enable-workspaces, one workspace per team."""
    job_tracking_calls: bool = False
    """MLflow's internal job credential counts on the tracking API too, from the jobs pod's loopback, so GenAI
    evaluate runs (MLflow admits it on the AI gateway's routes only; docs/operations.md)."""

    def __post_init__(self) -> None:
        problems = []
        if self.default_permission not in PERMISSIONS:
            problems.append(f"default_permission {self.default_permission!r} is not one of {PERMISSIONS}")
        if not (self.issuers or self.allow_basic_auth):
            problems.append("no way to sign in: give issuers, or allow basic auth")
        if not (self.admin_users or self.admin_groups or self.allow_basic_auth):
            problems.append("no admin: name admin_users or admin_groups, or nobody can grant permissions")
        problems += self._admin_issuer_problems()
        try:
            merge_issuers(self.issuers)
        except ValueError as error:
            problems.append(str(error))
        if problems:
            raise ValueError("ServerAuth: " + "; ".join(problems))

    def _admin_issuer_problems(self) -> list[str]:
        """Admins named where no issuer may name them: they would never be admins."""
        service_accounts = [user for user in self.admin_users if names_a_service_account(user)]
        people = [user for user in self.admin_users if not names_a_service_account(user)]
        problems = []
        if (people or self.admin_groups) and not any(i.grants_admin and not i.service_account_namespaces
                                                     for i in self.issuers):
            problems.append(f"no issuer may name the admins {sorted((*people, *self.admin_groups))}: set grants_admin "
                            "on the issuer whose tokens name them (e.g. the SSO provider)")
        if service_accounts and not any(i.grants_admin and i.service_account_namespaces for i in self.issuers):
            problems.append(f"no ServiceAccount issuer may name the admins {service_accounts}: set grants_admin on "
                            "the one with service_account_namespaces")
        return problems

    def identity_config(self) -> pulumi.Output[str]:
        """mlflow_platform_auth.Config as JSON."""
        def render(known: list[list[str]]) -> str:
            resolved = [dataclasses.replace(i, issuer=url, audiences=tuple(audiences))
                        for (url, *audiences), i in zip(known, self.issuers, strict=True)]
            return json.dumps({
                "issuers": [{"issuer": i.issuer, "audiences": list(i.audiences), "header": i.header,
                             "username_claims": list(i.username_claims), "groups_claim": i.groups_claim,
                             "grants_admin": i.grants_admin,
                             **({"service_account_namespaces": sorted(i.service_account_namespaces)}
                                if i.service_account_namespaces else {}),
                             **({"jwks_uri": i.jwks_uri} if i.jwks_uri else {})} for i in merge_issuers(resolved)],
                "admin_users": sorted(self.admin_users),
                "admin_groups": sorted(self.admin_groups),
                "allow_basic_auth": self.allow_basic_auth,
                "default_permission": self.default_permission,
                "job_tracking_calls": self.job_tracking_calls,
                **({"workspaces": {t.workspace: {"members": sorted(t.members), "managers": sorted(t.managers)}
                                   for t in self.teams}} if self.teams else {}),
            }, indent=2, sort_keys=True)
        return pulumi.Output.all(*(pulumi.Output.all(i.issuer, *i.audiences) for i in self.issuers)).apply(render)


@dataclass(frozen=True)
class AuthWiring:
    env: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    volume_mounts: list[dict[str, Any]]
    module_mount: dict[str, Any]
    module_volume: dict[str, Any]
    """The ConfigMap with the identity module and the scripts (the migration Job mounts it too)."""
    migration_container: dict[str, Any]
    """Runs mlflow_platform_auth_db.py after the tracking migration; needs BACKEND_URI_ENV as well."""
    config_checksum: pulumi.Output[str]
    """Changes with the identity config, so a change rolls the pods (the module reads it once)."""


def ini(auth: ServerAuth, database_uri: str) -> str:
    # configparser interpolates '%': a URI with percent-escapes needs '%%' (mlflow/server/auth/config.py).
    # With teams, the default workspace keeps the model without workspaces: what nobody granted is
    # read at the default permission there (grant_default_workspace_access; off, it would be denied).
    return (f"[mlflow]\ndefault_permission = {auth.default_permission}\n"
            f"database_uri = {database_uri.replace('%', '%%')}\n"
            "authorization_function = mlflow_platform_auth:authenticate\n"
            + ("grant_default_workspace_access = true\n" if auth.teams else ""))


def auth_wiring(parent: pulumi.Resource, name: str, namespace: pulumi.Input[str], labels: dict[str, str], auth: ServerAuth,
                image: str, container_base: dict[str, Any], owner_database: dict[str, Any] | None = None) -> AuthWiring:
    """`owner_database`: where the migration finds the auth database's URI when it migrates as the owner (an
    environment entry); None: the server's (auth.database_uri)."""
    child = pulumi.ResourceOptions(parent=parent)
    metadata = {"namespace": namespace, "labels": labels}
    admin_password = random.RandomPassword(f"{name}-auth-admin-password", length=32, special=False, opts=child)
    flask_key = random.RandomPassword(f"{name}-auth-flask-secret-key", length=48, special=False, opts=child)
    database_uri: pulumi.Output[str] = pulumi.Output.from_input(auth.database_uri)
    ini_text: pulumi.Output[str] = database_uri.apply(lambda uri: ini(auth, uri))
    secret = k8s.core.v1.Secret(
        f"{name}-auth",
        metadata={**metadata, "name": f"{name}-auth"},
        type="Opaque",
        string_data={
            INI_KEY: pulumi.Output.secret(ini_text),  # type: ignore[arg-type]  # pulumi infers Never
            "database-uri": pulumi.Output.secret(database_uri),  # type: ignore[arg-type]
            "admin-password": admin_password.result,
            "flask-secret-key": flask_key.result,
        },
        opts=child,
    )
    identity = auth.identity_config()
    config_map = k8s.core.v1.ConfigMap(
        f"{name}-auth-module",
        metadata={**metadata, "name": f"{name}-auth-module"},
        data={"mlflow_platform_auth.py": IDENTITY_MODULE, "mlflow_platform_auth_db.py": AUTH_DB_SCRIPT,
              "mlflow_platform_metrics.py": METRICS_SCRIPT, "identity.json": identity},
        opts=child,
    )
    module_mount = {"name": "auth-module", "mountPath": MODULE_DIR, "readOnly": True}
    module_volume = {"name": "auth-module", "configMap": {"name": config_map.metadata.name}}
    identity_config_env = {"name": "MLFLOW_PLATFORM_AUTH_CONFIG", "value": f"{MODULE_DIR}/identity.json"}
    env = [
        {"name": "PYTHONPATH", "value": MODULE_DIR},
        {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": f"{INI_DIR}/{INI_KEY}"},
        identity_config_env,
        {"name": "MLFLOW_AUTH_ADMIN_USERNAME", "value": ADMIN_USERNAME},
        secret_env("MLFLOW_AUTH_ADMIN_PASSWORD", secret.metadata.name, "admin-password"),
        secret_env("MLFLOW_FLASK_SERVER_SECRET_KEY", secret.metadata.name, "flask-secret-key"),
    ]
    return AuthWiring(
        env=env,
        volumes=[module_volume,
                 {"name": "auth-ini",
                  "secret": {"secretName": secret.metadata.name, "items": [{"key": INI_KEY, "path": INI_KEY}]}}],
        volume_mounts=[module_mount, {"name": "auth-ini", "mountPath": INI_DIR, "readOnly": True}],
        module_mount=module_mount,
        module_volume=module_volume,
        migration_container={
            **container_base,
            "name": "migrate-auth",
            **image_fields(image),
            "command": ["python", f"{MODULE_DIR}/mlflow_platform_auth_db.py"],
            "env": [*container_base["env"],
                    owner_database or secret_env(AUTH_DATABASE_ENV, secret.metadata.name, "database-uri"),
                    identity_config_env],
            "volumeMounts": [*container_base["volumeMounts"], module_mount],
        },
        config_checksum=identity.apply(lambda text: hashlib.sha256((text + auth.default_permission).encode()).hexdigest()[:16]),
    )
