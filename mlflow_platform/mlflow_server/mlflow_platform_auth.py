"""Who is calling MLflow, from a verified JWT: the identity behind MLflow's own permissions.

Runs inside the MLflow server (the `-full` image), mounted from a ConfigMap on PYTHONPATH and named
in the auth app's ini as `authorization_function = mlflow_platform_auth:authenticate`. MLflow calls
it with no arguments for each request it protects, reads `flask.request`, and takes a werkzeug
`Authorization` (its `username`) or a `Response` to send back (mlflow/server/auth/__init__.py,
get_auth_func and authenticate_request; the FastAPI routes call it in a test request context).

The identity never comes from a plain header a client could forge: every token is a JWT whose
signature, issuer, audience and expiry are checked against one of the configured issuers: the SSO
provider (the ID token oauth2-proxy passes as `Authorization: Bearer`, or a program's own token),
the cluster's service-account issuer (projected tokens of in-cluster jobs), Cloudflare Access
(`Cf-Access-Jwt-Assertion`), each only in its own header. A token names nobody when its `email` is not
verified, a ServiceAccount only from the cluster's issuer and from the namespaces the config lists. A user
is created on first sight; admins come from the config, named only by the issuers it lets name admins
(MLflow keeps one user per username: an issuer that could name an admin would make its bearer one), and so
do teams: membership of a workspace is one of two roles the migration Job creates in it, assigned
or taken away here to match the config (MLflow resolves workspace-wide grants through roles).
Server-side jobs (the jobs pod, mlflow 3.17.2): a job that calls the AI gateway sends MLflow's own internal
credential, `Authorization: Basic <user>:<token>`, which this module admits where MLflow's default function does,
on the AI gateway's routes, and, where the config says so (job_tracking_calls), on the tracking API too from the
jobs pod's own loopback, so that GenAI evaluate can run (internal_job_user); MLflow's handlers learn the user who
submitted the job from the request's Authorization header, so it is set to the verified identity; and the generic
job-submission route, which MLflow leaves open to any signed-in user with jobs that read the database directly, is
an admin's only (submits_a_raw_job).
Stdlib, flask, werkzeug, PyJWT (in the image through mlflow[azure] -> azure-identity -> msal) and
mlflow only: nothing of the Pulumi program.
"""

import ipaddress
import json
import logging
import os
import secrets
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from flask import Response, g, request
from werkzeug.datastructures import Authorization

CONFIG_ENV = "MLFLOW_PLATFORM_AUTH_CONFIG"
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
_logger = logging.getLogger(__name__)

INTERNAL_TOKEN_ENV = "_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN"
"""MLflow's job-runner credential (mlflow/environment_variables.py). `mlflow server` makes a new random one at each
start (secrets.token_hex(32)), and only with the auth app and job execution on, before it forks its workers and the
job runner, which alone inherit it (mlflow/server/__init__.py _run_server). The UI's judge and GenAI-evaluate jobs send
it as the password of `Authorization: Basic <user who submitted the job>:<token>` (mlflow/genai/scorers/job.py
invoke_scorer_job, mlflow/genai/evaluation/job.py; the header from mlflow/genai/utils/gateway_utils.py
_build_auth_headers). The platform sets it empty in every server container, so no other value can reach one."""
JOB_EXECUTION_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
STATIC_PREFIX_ENV = "_MLFLOW_STATIC_PREFIX"
"""Set by `mlflow server --static-prefix` for its workers (mlflow/server/handlers.py STATIC_PREFIX_ENV_VAR)."""
GATEWAY_ROUTES = "/gateway/"
"""Where MLflow admits the internal credential, and nowhere else: "so the token cannot be used as a master password
on other endpoints" (mlflow/server/auth/__init__.py _authenticate_fastapi_request)."""
JOB_SUBMISSION_ROUTE = "/ajax-api/3.0/jobs"
"""MLflow's generic job submission, POST (mlflow/server/job_api.py submit_job)."""


@dataclass(frozen=True)
class Issuer:
    issuer: str
    audiences: tuple[str, ...]
    header: str = "Authorization"
    """Where its tokens arrive: `Authorization` (as `Bearer <jwt>`) or e.g. `Cf-Access-Jwt-Assertion`."""
    username_claims: tuple[str, ...] = ("email",)
    """The first of these claims the token has is the MLflow username."""
    groups_claim: str = "groups"
    jwks_uri: str | None = None
    """None: from the issuer's OIDC discovery document."""
    grants_admin: bool = False
    """Whether its tokens may make an MLflow admin (admin_users, admin_groups). MLflow keeps one user per username,
    admin or not: any issuer that could name an admin (or list the admins' group) would make its bearer one."""
    service_account_namespaces: tuple[str, ...] = ()
    """Non-empty: a cluster's ServiceAccount issuer. Its tokens name `system:serviceaccount:<ns>:<name>` (the `sub`),
    accepted only for these namespaces; no other issuer may name a ServiceAccount."""


SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def service_account_namespace(subject: str) -> str | None:
    """The namespace of `system:serviceaccount:<namespace>:<name>`, None for any other subject."""
    namespace, separator, name = subject.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
    if not subject.startswith(SERVICE_ACCOUNT_PREFIX) or not separator or not namespace or not name or ":" in name:
        return None
    return namespace


@dataclass(frozen=True)
class Identity:
    username: str
    groups: frozenset[str]
    may_be_admin: bool = False
    """Its issuer grants admin (Issuer.grants_admin): only then do admin_users and admin_groups count."""


DEFAULT_WORKSPACE = "default"
# Workspace-wide levels (mlflow/server/auth/permissions.py WORKSPACE_GRANTABLE_PERMISSIONS) and the role
# that carries each. Only these roles are managed here: grants an admin makes through MLflow's API stay.
TEAM_ROLES = {"USE": "mlflow-platform-members", "MANAGE": "mlflow-platform-managers"}


@dataclass(frozen=True)
class Team:
    """A workspace and who is in it: usernames, or `group:<name>` for a group of the token's groups claim."""

    workspace: str
    members: frozenset[str] = frozenset()
    managers: frozenset[str] = frozenset()

    def level(self, identity: "Identity") -> str | None:
        """MANAGE for a manager, USE for a member, None for anyone else."""
        for level, names in (("MANAGE", self.managers), ("USE", self.members)):
            if identity.username in names or any(f"group:{group}" in names for group in identity.groups):
                return level
        return None


@dataclass(frozen=True)
class Config:
    issuers: tuple[Issuer, ...]
    admin_users: frozenset[str] = frozenset()
    admin_groups: frozenset[str] = frozenset()
    allow_basic_auth: bool = False
    """MLflow's own username/password as well (dev only: to try permissions without an SSO provider)."""
    leeway_seconds: int = 30
    teams: tuple[Team, ...] = ()
    """Non-empty: the server runs with --enable-workspaces; everyone is a member of the default workspace."""
    default_permission: str = "READ"
    """The ini's: members of a team read what nobody granted them in its workspace at this permission."""
    job_tracking_calls: bool = False
    """MLflow's internal job credential counts on the tracking API too, for calls from this pod's loopback (GenAI
    evaluate's); MLflow admits it on the AI gateway's routes only."""

    def __post_init__(self) -> None:
        urls = [issuer.issuer for issuer in self.issuers]
        if twice := sorted({url for url in urls if urls.count(url) > 1}):
            # One entry would silently replace the other, and with it every audience it accepts.
            raise ValueError(f"issuers listed twice (one entry per issuer, with all its audiences): {twice}")

    @staticmethod
    def from_json(text: str) -> "Config":
        raw = json.loads(text)
        issuers = tuple(
            Issuer(issuer=i["issuer"], audiences=tuple(i["audiences"]), header=i.get("header", "Authorization"),
                   username_claims=tuple(i.get("username_claims", ["email"])), groups_claim=i.get("groups_claim", "groups"),
                   jwks_uri=i.get("jwks_uri"), grants_admin=bool(i.get("grants_admin", False)),
                   service_account_namespaces=tuple(i.get("service_account_namespaces", [])))
            for i in raw.get("issuers", []))
        return Config(issuers=issuers, admin_users=frozenset(raw.get("admin_users", [])),
                      admin_groups=frozenset(raw.get("admin_groups", [])),
                      allow_basic_auth=bool(raw.get("allow_basic_auth", False)),
                      leeway_seconds=int(raw.get("leeway_seconds", 30)),
                      default_permission=raw.get("default_permission", "READ"),
                      job_tracking_calls=bool(raw.get("job_tracking_calls", False)),
                      teams=tuple(Team(name, frozenset(team.get("members", [])), frozenset(team.get("managers", [])))
                                  for name, team in sorted(raw.get("workspaces", {}).items())))

    def is_admin(self, identity: Identity) -> bool:
        """Named in admin_users or in an admin group, by an issuer that may name admins."""
        return identity.may_be_admin and (identity.username in self.admin_users
                                          or bool(identity.groups & self.admin_groups))

    def team_roles(self, identity: Identity) -> set[tuple[str, str]]:
        """(workspace, role name) pairs the identity should hold; empty when workspaces are off."""
        if not self.teams:
            return set()
        # The default workspace keeps MLflow's model without workspaces: anyone may create there, and
        # reads what others created at the default permission (grant_default_workspace_access in the ini).
        roles = {(DEFAULT_WORKSPACE, TEAM_ROLES["USE"])}
        for team in self.teams:
            if level := team.level(identity):
                roles.add((team.workspace, TEAM_ROLES[level]))
        return roles


class InvalidTokenError(Exception):
    """A token that is malformed, from an unknown issuer, or fails its issuer's checks."""


class Verifier:
    """Verifies tokens, with each issuer's keys fetched once and a cache of tokens already verified
    (MLflow calls the authorization function several times per request and caches nothing for it)."""

    def __init__(self, config: Config, cache_size: int = 4096) -> None:
        self.config = config
        self._by_issuer = {issuer.issuer: issuer for issuer in config.issuers}
        self._keys: dict[str, jwt.PyJWKClient] = {}
        # Keyed by the header too: a token is good only in its issuer's header, and a cache keyed by the token
        # alone would admit one refused in another header once it had been used in its own.
        self._verified: OrderedDict[tuple[str, str], tuple[Identity, float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def identity(self, token: str, header: str) -> Identity:
        key = (header.lower(), token)
        with self._lock:
            cached = self._verified.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
        try:
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise InvalidTokenError(f"not a JWT: {error}") from error
        issuer = self._by_issuer.get(str(claimed.get("iss")))
        if issuer is None or issuer.header.lower() != header.lower():
            raise InvalidTokenError(f"issuer {claimed.get('iss')!r} is not trusted for {header}")
        claims = self._verified_claims(token, issuer)
        identity = identity_of(claims, issuer)
        with self._lock:
            self._verified[key] = (identity, float(claims["exp"]))
            while len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return identity

    def _verified_claims(self, token: str, issuer: Issuer) -> dict[str, Any]:
        """The claims, once the signature (with the key the token names, or any of the issuer's keys when
        it names none), the issuer, the audience and the expiry are checked."""
        try:
            client = self._key_client(issuer)
            kid = jwt.get_unverified_header(token).get("kid")
            keys = [client.get_signing_key(kid)] if kid else client.get_signing_keys()
        except (jwt.PyJWTError, OSError) as error:
            raise InvalidTokenError(str(error)) from error
        failure: Exception = InvalidTokenError("the issuer publishes no signing key")
        for key in keys:
            try:
                return dict(jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=list(issuer.audiences),
                                       issuer=issuer.issuer, leeway=self.config.leeway_seconds,
                                       options={"require": ["exp", "iss", "aud"]}))
            except jwt.InvalidSignatureError as error:
                failure = error
            except jwt.PyJWTError as error:
                raise InvalidTokenError(str(error)) from error
        raise InvalidTokenError(str(failure))

    def _key_client(self, issuer: Issuer) -> jwt.PyJWKClient:
        with self._lock:
            client = self._keys.get(issuer.issuer)
        if client is None:
            client = jwt.PyJWKClient(issuer.jwks_uri or _discovered_jwks_uri(issuer.issuer), cache_keys=True,
                                     lifespan=300, timeout=10)
            with self._lock:
                self._keys[issuer.issuer] = client
        return client


def identity_of(claims: dict[str, Any], issuer: Issuer) -> Identity:
    """Who verified claims name, by the issuer's rules; InvalidTokenError when they name nobody it may name."""
    if issuer.service_account_namespaces:
        subject = str(claims.get("sub") or "")
        namespace = service_account_namespace(subject)
        if namespace is None:
            raise InvalidTokenError(f"the subject {subject!r} is not a ServiceAccount (system:serviceaccount:<ns>:<name>)")
        if namespace not in issuer.service_account_namespaces:
            raise InvalidTokenError(f"ServiceAccounts of namespace {namespace!r} are not MLflow users; the config admits "
                                    f"those of {', '.join(issuer.service_account_namespaces)}")
        # A projected token lists no groups; the subject is all there is.
        return Identity(subject, frozenset(), may_be_admin=issuer.grants_admin)
    claim = next((c for c in issuer.username_claims if claims.get(c)), None)
    if claim is None:
        raise InvalidTokenError(f"the token has none of the claims {list(issuer.username_claims)}")
    if claim == "email" and "email_verified" in claims and not _is_true(claims["email_verified"]):
        # The provider says the address was never proven to be the holder's: it names nobody.
        raise InvalidTokenError("its email is not verified (email_verified is false): it names nobody")
    username = str(claims[claim])
    if username.startswith(SERVICE_ACCOUNT_PREFIX):
        raise InvalidTokenError(f"{username!r} is a ServiceAccount's name, which only the cluster's issuer may assert")
    groups = claims.get(issuer.groups_claim) or []
    return Identity(username, frozenset(groups if isinstance(groups, list) else [groups]),
                    may_be_admin=issuer.grants_admin)


def _is_true(value: Any) -> bool:
    """A boolean claim, which some providers send as a string."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _discovered_jwks_uri(issuer: str) -> str:
    with urllib.request.urlopen(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=10) as response:
        return str(json.load(response)["jwks_uri"])


def token_in(headers: Any, header: str) -> str | None:
    value = headers.get(header)
    if not value:
        return None
    if header.lower() == "authorization":
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    return str(value).strip()


_verifier: Verifier | None = None
_state_lock = threading.Lock()


def _get_verifier() -> Verifier:
    global _verifier
    with _state_lock:
        if _verifier is None:
            with open(os.environ[CONFIG_ENV]) as file:
                _verifier = Verifier(Config.from_json(file.read()))
        return _verifier


def _unauthorized(message: str) -> Response:
    body = json.dumps({"error_code": "UNAUTHENTICATED", "message": message})
    return Response(body, status=401, mimetype="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="mlflow", error="invalid_token"'})


def _forbidden(message: str) -> Response:
    return Response(json.dumps({"error_code": "PERMISSION_DENIED", "message": message}), status=403,
                    mimetype="application/json")


def _unprefixed(path: str, environ: Mapping[str, str]) -> str:
    prefix = environ.get(STATIC_PREFIX_ENV, "").rstrip("/")
    return path[len(prefix):] if prefix and path.startswith(prefix) else path


def internal_job_user(path: str, authorization: Authorization | None, environ: Mapping[str, str],
                      peer: str | None = None, tracking_calls: bool = False) -> str | None:
    """The user a request of MLflow's own job runner acts for; None for any other request.

    As narrow as MLflow's default function (mlflow/server/auth/__init__.py _authenticate_fastapi_request): only in
    a server whose `mlflow server` generated the token (the jobs pod: job execution on; every other container has it
    empty), only `Authorization: Basic` whose password is that token, compared in constant time, only on the AI
    gateway's routes. With `tracking_calls` (the config's job_tracking_calls), also on every other route when the
    request comes from the pod's own loopback, as GenAI evaluate's calls to MLFLOW_TRACKING_URI (http://0.0.0.0:5000)
    do: the token never leaves the pod, whose processes hold the database's credentials anyway. The username is the
    one the job names (the user who submitted it); MLflow then looks the user up (unknown: 401) and checks their
    permissions as for any other call."""
    if not carries_internal_token(authorization, environ):
        return None
    on_gateway = _unprefixed(path, environ).startswith(GATEWAY_ROUTES)
    if not (on_gateway or (tracking_calls and _is_loopback(peer))):
        return None
    return str(authorization.username) if authorization and authorization.username else None


def _is_loopback(peer: str | None) -> bool:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def carries_internal_token(authorization: Authorization | None, environ: Mapping[str, str]) -> bool:
    """`Authorization: Basic <user>:<token>` with the token this server's `mlflow server` made for its job runner."""
    token = environ.get(INTERNAL_TOKEN_ENV, "")
    if not token or environ.get(JOB_EXECUTION_ENV, "").lower() != "true":
        return False
    if authorization is None or authorization.type != "basic" or not authorization.username:
        return False
    return secrets.compare_digest((authorization.password or "").encode(), token.encode())


def submits_a_raw_job(method: str, path: str, environ: Mapping[str, str]) -> bool:
    """POST to MLflow's generic job submission. MLflow 3.17.2 lets any signed-in user through it
    (mlflow/server/auth/__init__.py _get_job_route_validator: submit has no job id, so True), with any parameters,
    and its jobs read traces straight from the database (mlflow/genai/scorers/job.py invoke_scorer_job ->
    _get_tracking_store): a user could score, and write assessments to, traces of experiments they cannot read,
    the hole MLflow closed on /scorer/invoke (mlflow/mlflow#25721, GHSA-6c27-cp6h-c66m) and on the issue-detection
    and evaluate routes (#25873) but not here. Neither the UI nor MLflow's client submits through it (the UI
    polls and cancels jobs there; it submits through those checked routes)."""
    return method.upper() == "POST" and _unprefixed(path, environ).rstrip("/") == JOB_SUBMISSION_ROUTE


_NOT_AN_ADMIN_ISSUER = ("{!r} is an MLflow admin, and this token's issuer may not name admins: MLflow keeps one "
                        "user per username, so its bearer would be that admin")


def _ensure_user(identity: Identity, config: Config) -> None:
    """The user exists in MLflow's auth store, admin exactly when the config says so, and holds exactly
    the team roles the config gives them; InvalidTokenError when an issuer that may not name admins names one.
    Checked against the store on every request (one per request: the result is kept in `g`): another worker or
    replica may have changed them for a token with other groups, so a per-process memory of what was set goes stale,
    and a user who left a group kept its rights on the process that remembered them (tests/runtime/test_teams.py)."""
    admin, roles = config.is_admin(identity), frozenset(config.team_roles(identity))
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth import store

    if not identity.may_be_admin and identity.username in config.admin_users:
        raise InvalidTokenError(_NOT_AN_ADMIN_ISSUER.format(identity.username))
    try:
        user = store.get_user(identity.username)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        try:
            # Never used to log in: the identity is the token. MLflow wants 12 characters or more.
            store.create_user(identity.username, secrets.token_urlsafe(32), is_admin=admin)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":  # another worker or replica was first
                raise
        user = store.get_user(identity.username)
    if user.is_admin and not identity.may_be_admin:
        # An admin by group (their own issuer's token made them one). Demoting them would not make this request
        # safe: their own next token promotes them again, and this one could be served while they are.
        raise InvalidTokenError(_NOT_AN_ADMIN_ISSUER.format(identity.username))
    if user.is_admin != admin:
        store.update_user(identity.username, is_admin=admin)
    if config.teams:
        _sync_team_roles(store, user.id, roles)


def _sync_team_roles(store: Any, user_id: int, wanted: frozenset[tuple[str, str]]) -> None:
    """Assign the wanted team roles and take away the others (a role that does not exist yet is tried again on
    the next request)."""
    from mlflow.exceptions import MlflowException

    held = {(role.workspace, role.name): role.id for role in store.list_user_roles(user_id)
            if role.name in TEAM_ROLES.values()}
    for workspace, name in wanted - held.keys():
        try:
            store.assign_role_to_user(user_id, store.get_role_by_name(workspace, name).id)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                _logger.warning("role %s of workspace %s does not exist: has the migration Job run?", name, workspace)
            elif error.error_code != "RESOURCE_ALREADY_EXISTS":  # another worker or replica was first
                raise
    for key in held.keys() - wanted:
        try:
            store.unassign_role_from_user(user_id, held[key])
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise


def authenticate() -> Authorization | Response:
    """MLflow's `authorization_function`."""
    cached = getattr(g, "mlflow_platform_authorization", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    result = _authenticate()
    if isinstance(result, Authorization) and submits_a_raw_job(request.method, request.path, os.environ) \
            and not _is_admin(str(result.username)):
        g.pop("mlflow_platform_authorization", None)
        return _forbidden("MLflow's generic job submission is for admins: start judges, evaluations, issue detection "
                          "and prompt optimisation through their own routes (the UI's), which check the experiment")
    return result


def _is_admin(username: str) -> bool:
    from mlflow.server.auth import store

    return bool(store.get_user(username).is_admin)


def _authenticate() -> Authorization | Response:
    verifier = _get_verifier()
    for header in dict.fromkeys(issuer.header for issuer in verifier.config.issuers):
        token = token_in(request.headers, header)
        if token is None:
            continue
        try:
            identity = verifier.identity(token, header)
            _ensure_user(identity, verifier.config)
        except InvalidTokenError as error:
            _logger.warning("refused a token in %s: %s", header, error)
            return _unauthorized(f"invalid token in {header}: {error}")
        authorization = Authorization("bearer", {"username": identity.username}, token=token)
        g.mlflow_platform_authorization = authorization
        # MLflow's judge and GenAI-evaluate handlers name the job's user from the request's Authorization header
        # (mlflow/server/handlers.py _invoke_scorer_handler, _invoke_genai_evaluate_handler:
        # `request.authorization.username`), which for a bearer token (or Cf-Access-Jwt-Assertion) names nobody: the
        # job would call the gateway without a user. The verified identity stands in for the header's parse.
        request.authorization = authorization
        return authorization
    # A forwarded request is someone else's, whatever address it came from (uvicorn takes X-Forwarded-For from
    # FORWARDED_ALLOW_IPS' peers as the client: uvicorn/middleware/proxy_headers.py), and a job's call has none.
    forwarded = any(name in request.headers for name in ("X-Forwarded-For", "Forwarded"))
    if (job_user := internal_job_user(request.path, request.authorization, os.environ,
                                      None if forwarded else request.remote_addr,
                                      verifier.config.job_tracking_calls)) is not None:
        return Authorization("basic", {"username": job_user})
    if carries_internal_token(request.authorization, os.environ):
        return _unauthorized("MLflow's job credential counts on the AI gateway's routes, as MLflow itself admits it, "
                             "and on the tracking API only from the jobs pod's loopback with authJobTrackingCalls: "
                             "GenAI evaluate needs that (docs/operations.md, server-side jobs)")
    if verifier.config.allow_basic_auth and request.authorization and request.authorization.type == "basic":
        from mlflow.server.auth import authenticate_request_basic_auth

        return authenticate_request_basic_auth()  # type: ignore[no-any-return]
    return _unauthorized("no credentials: sign in through the front door, or send a token as Authorization: Bearer")
