"""The identity area: MLflow's auth app, who is an admin, and which token issuers name the callers."""

import dataclasses
from dataclasses import dataclass

import pulumi

from mlflow_platform.mlflow_server.auth import ServerAuth, Team, TrustedIssuer, names_a_service_account
from mlflow_platform.validation import dns_label_problem, issuer_url_problem
from settings.checks import trusted_issuer_problem
from settings.cluster import ClusterFacts
from settings.providers import missing_claim
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
    job_tracking_calls: bool = False

    def server_auth(self, database_uri: pulumi.Input[str]) -> ServerAuth:
        return ServerAuth(database_uri=database_uri, issuers=self.issuers, default_permission=self.default_permission,
                          admin_users=self.admin_users, admin_groups=self.admin_groups,
                          allow_basic_auth=self.allow_basic_auth, teams=self.teams,
                          job_tracking_calls=self.job_tracking_calls)



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
    default_permission = read.string("authDefaultPermission")
    admin_users = read.string_list("authAdminUsers")
    admin_groups = read.string_list("authAdminGroups")
    admin_issuers = read.string_list("authAdminIssuers")
    trusted = read.string_list("authTrustedIssuers")
    audience = read.optional("authServiceAccountAudience")
    account_namespaces = read.string_list("authServiceAccountNamespaces")
    allow_basic_auth = read.boolean("authAllowBasicAuth")
    job_tracking_calls = read.boolean("authJobTrackingCalls")
    teams = read_teams(read)
    if teams and not enabled:
        read.fail("authWorkspaces", f"teams need MLflow's auth app: set {read.key('authEnabled')} true")
    if not enabled:
        return None
    # The platform's own namespace (its own area reports a bad value): its ServiceAccounts are always users.
    namespace = read.optional("namespace") or "mlflow"
    people_url = people.issuer if people and isinstance(people.issuer, str) else None
    programs = [(entry, *entry.partition("=")[::2]) for entry in trusted if not trusted_issuer_problem(entry)]
    cluster_url = cluster.get("oidcIssuerUrl", "authServiceAccountAudience") if audience else None
    admin_urls = _admin_issuers(read, admin_issuers, people_url, [url for _, url, _ in programs], cluster_url)
    account_admins = [user for user in admin_users if names_a_service_account(user)]
    if admin_groups and people_url and people_url in admin_urls and (provider := missing_claim(people_url, "groups")):
        read.fail("authAdminGroups", f"{provider}'s ID tokens carry no groups claim ({people_url}'s claims_supported): "
                                     f"these groups would name no admin; name them in {read.key('authAdminUsers')}")
    _check_admins(read, [u for u in admin_users if u not in account_admins] + list(admin_groups), admin_urls)
    issuers: list[TrustedIssuer] = []
    if people:
        people = dataclasses.replace(people, grants_admin=people_url in admin_urls)
        issuers.append(people)
    for entry, url, program_audience in programs:
        # Programs' tokens (client credentials) name a client, not a person: `sub` when there is no e-mail. The SSO
        # provider listed again (its tokens for programs) becomes one entry with both audiences (merge_issuers).
        program = TrustedIssuer(issuer=url, audiences=(program_audience,), username_claims=("email", "sub"),
                                grants_admin=url in admin_urls)
        if people and url == people_url and (conflicts := program.conflicts(people)):
            read.fail("authTrustedIssuers", f"{entry!r}: {url} is the front door's issuer, whose tokens are read "
                                            f"another way there ({'; '.join(conflicts)}): one issuer is trusted one "
                                            "way only")
        if url == cluster_url:
            read.fail("authTrustedIssuers", f"{entry!r}: {url} is the cluster's ServiceAccount issuer "
                                            f"({read.key('oidcIssuerUrl')}): its tokens are accepted with "
                                            f"{read.key('authServiceAccountAudience')} (and only from the namespaces "
                                            f"of {read.key('authServiceAccountNamespaces')})")
        issuers.append(program)
    if account_namespaces and not audience:
        read.fail("authServiceAccountNamespaces", "lists namespaces whose ServiceAccounts would be MLflow users, and "
                                                  "no ServiceAccount token is accepted: set "
                                                  f"{read.key('authServiceAccountAudience')} (e.g. mlflow)")
    admitted = tuple(name for name in dict.fromkeys((namespace, *account_namespaces)) if not dns_label_problem(name))
    for user in account_admins:
        user_namespace = user.split(":")[2] if user.count(":") == 3 else ""
        if not user_namespace or not user.split(":")[3]:
            read.fail("authAdminUsers", f"{user!r} is not system:serviceaccount:<namespace>:<name>")
        elif not audience:
            read.fail("authAdminUsers", f"{user!r} is a ServiceAccount, and ServiceAccount tokens are not accepted: "
                                        f"set {read.key('authServiceAccountAudience')}")
        elif user_namespace not in admitted:
            read.fail("authAdminUsers", f"{user!r}: ServiceAccounts of namespace {user_namespace!r} are not MLflow "
                                        f"users; list it in {read.key('authServiceAccountNamespaces')}")
    if audience:
        # Projected service-account tokens: sub is system:serviceaccount:<namespace>:<name>. The cluster's issuer
        # is the only one that may name a ServiceAccount, so it names admins too when authAdminUsers lists one.
        if people_url is not None and cluster_url == people_url:
            read.fail("authServiceAccountAudience", f"the cluster's issuer {cluster_url} is the front door's: one "
                                                    "issuer is trusted one way only")
        # None: cluster.get recorded the problem, and no settings are returned.
        issuers.append(TrustedIssuer(issuer=cluster_url or "", audiences=(audience,), username_claims=("sub",),
                                     grants_admin=bool(account_admins), service_account_namespaces=admitted))
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
                            service_account_audience=audience, teams=teams, job_tracking_calls=job_tracking_calls)


def _admin_issuers(read: ConfigReader, named: tuple[str, ...], people_url: str | None, program_urls: list[str],
                   cluster_url: object) -> set[str]:
    """authAdminIssuers, each one of the issuers trusted for people or programs; empty: the front door's."""
    if not named:
        return {people_url} if people_url else set()
    known = list(dict.fromkeys([*([people_url] if people_url else []), *program_urls]))
    for url in named:
        if url == cluster_url:
            read.fail("authAdminIssuers", f"{url!r} is the cluster's ServiceAccount issuer: it names the ServiceAccounts "
                                          f"of {read.key('authAdminUsers')} admins without being listed here, and "
                                          "nothing else")
        elif url not in known and not issuer_url_problem(url):
            read.fail("authAdminIssuers", f"{url!r} is not a trusted issuer; name the front door's or one of "
                                          f"{read.key('authTrustedIssuers')}: {', '.join(known) or 'there is none'}")
    return set(named)


def _check_admins(read: ConfigReader, people_admins: list[str], admin_urls: set[str]) -> None:
    """Admins named (people or groups) where no issuer may name them would never be admins: without a front door
    that signs people in, authAdminIssuers' default names none."""
    if people_admins and not admin_urls:
        read.fail("authAdminIssuers", f"no issuer may name the admins {people_admins} (the front door signs nobody "
                                      "in): list the issuers whose tokens name them, e.g. the one of "
                                      f"{read.key('authTrustedIssuers')} your people sign in with; another issuer's "
                                      "token that names an admin is refused")
