"""The identity area: MLflow's auth app, who is an admin, and which token issuers name the callers."""

from dataclasses import dataclass

import pulumi

from mlflow_platform.mlflow_server.auth import PERMISSIONS, ServerAuth, Team, TrustedIssuer
from mlflow_platform.validation import issuer_url_problem
from settings.cluster import ClusterFacts
from settings.reader import ConfigReader


@dataclass(frozen=True)
class IdentitySettings:
    issuers: tuple[TrustedIssuer, ...]
    default_permission: str
    admin_users: tuple[str, ...]
    admin_groups: tuple[str, ...]
    allow_basic_auth: bool
    program_issuers: tuple[str, ...] = ()
    """authTrustedIssuers as given (issuer=audience): oauth2-proxy lets their tokens through too."""
    service_account_audience: str | None = None
    """The audience in-cluster jobs request for their projected tokens (None: not accepted)."""
    teams: tuple[Team, ...] = ()

    def server_auth(self, database_uri: pulumi.Input[str]) -> ServerAuth:
        return ServerAuth(database_uri=database_uri, issuers=self.issuers, default_permission=self.default_permission,
                          admin_users=self.admin_users, admin_groups=self.admin_groups,
                          allow_basic_auth=self.allow_basic_auth, teams=self.teams)


def trusted_issuer_problem(value: str) -> str | None:
    issuer, separator, audience = value.partition("=")
    if not separator or not audience or issuer_url_problem(issuer):
        return f"{value!r} is not issuer=audience, e.g. https://login.example.com=mlflow-ci"
    return None


def read_teams(read: ConfigReader) -> tuple[Team, ...]:
    """authWorkspaces: {"<workspace>": {"members": [...], "managers": [...]}}, every team's problems at once."""
    teams = []
    for workspace, raw in sorted(read.mapping("authWorkspaces").items()):
        lists = raw if isinstance(raw, dict) else {}
        unknown = sorted(set(lists) - {"members", "managers"})
        if not isinstance(raw, dict) or unknown:
            read.fail("authWorkspaces", f"team {workspace!r} must be an object with members and managers"
                                        + (f" (not {', '.join(unknown)})" if unknown else ""))
            continue
        if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in lists.values()):
            read.fail("authWorkspaces", f"team {workspace!r}: members and managers are lists of usernames "
                                        "or group:<name>")
            continue
        team = read.build("authWorkspaces", Team, workspace=workspace, members=tuple(lists.get("members", [])),
                          managers=tuple(lists.get("managers", [])))
        if team:
            teams.append(team)
    return tuple(teams)


def read_identity(read: ConfigReader, cluster: ClusterFacts, people: TrustedIssuer | None,
                  data_protection: bool) -> IdentitySettings | None:
    """None when the auth app is off, or when a key of this area is wrong (the problems are recorded).

    `people` is the issuer whose tokens name the people the front door signed in."""
    mark = len(read.problems)
    enabled = read.boolean("authEnabled")
    default_permission = read.string("authDefaultPermission", allowed=PERMISSIONS)
    admin_users = read.string_list("authAdminUsers")
    admin_groups = read.string_list("authAdminGroups")
    trusted = read.string_list("authTrustedIssuers", check=trusted_issuer_problem)
    audience = read.optional("authServiceAccountAudience")
    allow_basic_auth = read.boolean("authAllowBasicAuth")
    teams = read_teams(read)
    if teams and not enabled:
        read.fail("authWorkspaces", f"teams need MLflow's auth app: set {read.key('authEnabled')} true")
    if not enabled:
        return None
    issuers: list[TrustedIssuer] = []
    if people:
        issuers.append(people)
    for entry in trusted:
        issuer, _, program_audience = entry.partition("=")
        # Programs' tokens (client credentials) name a client, not a person: `sub` when there is no e-mail.
        issuers.append(TrustedIssuer(issuer=issuer, audiences=(program_audience,), username_claims=("email", "sub")))
    if audience:
        # Projected service-account tokens: sub is system:serviceaccount:<namespace>:<name>.
        issuers.append(TrustedIssuer(issuer=cluster.get("oidcIssuerUrl", "authServiceAccountAudience"),
                                     audiences=(audience,), username_claims=("sub",)))
    if allow_basic_auth and data_protection:
        read.fail("authAllowBasicAuth", "MLflow's own passwords bypass the front door's sign-in: for throwaway stacks "
                                        f"only (set {read.key('dataProtection')} false), use tokens otherwise")
    if not (issuers or allow_basic_auth):
        read.fail("authEnabled", "nobody could sign in: enable SSO (ssoEnabled with an ingressHost), or set "
                                 "authTrustedIssuers, authServiceAccountAudience or (dev) authAllowBasicAuth")
    if not (admin_users or admin_groups or allow_basic_auth):
        read.fail("authAdminUsers", "name at least one admin (authAdminUsers or authAdminGroups): only admins can "
                                    "grant permissions")
    if read.problems_since(mark):
        return None
    return IdentitySettings(issuers=tuple(issuers), default_permission=default_permission, admin_users=admin_users,
                            admin_groups=admin_groups, allow_basic_auth=allow_basic_auth, program_issuers=trusted,
                            service_account_audience=audience, teams=teams)
