"""Least-privilege database roles: who connects as what.

The configured user owns the databases and the schema, and only the migration Job connects as it. The Job creates
the other roles and grants each what its workload needs (mlflow_server/mlflow_platform_db_roles.py):

- `<user>_app`: the server, the jobs pod and gc. Rows only (SELECT, INSERT, UPDATE, DELETE; sequences), no DDL, and
  only SELECT on alembic's version tables: MLflow's server creates and upgrades tables when it finds any missing
  (mlflow/store/db/utils.py _all_tables_exist -> _initialize_tables), and as this role it cannot, so the Job stays the
  one migrator.
- `<user>_monitor` (postgres_exporter, in-cluster): pg_monitor's statistics, read-only, no table.
- `<user>_backup` (pg_dump, in-cluster): SELECT on every table and sequence, read-only.

Only where the program holds the owner's password: in-cluster, RDS (whose master user has CREATEROLE), and an
external PostgreSQL server whose user may create roles (externalDatabaseCreatesRoles).
"""

import hashlib
import re
from dataclasses import dataclass

import pulumi

# The Secret the migration Job reads: the owner's URIs and the roles' passwords. No other pod references it.
OWNER_URI_KEY = "owner-uri"
OWNER_AUTH_URI_KEY = "owner-auth-uri"
ROLE_KINDS = ("app", "monitor", "backup")
# PostgreSQL truncates longer identifiers (NAMEDATALEN 64) instead of refusing them: a role or database would get
# another name than the one configured. Unquoted-identifier characters, lower case: the name is the same in every
# client, quoted or not.
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
MAX_IDENTIFIER_BYTES = 63
LONGEST_SUFFIX = max(len(f"_{kind}") for kind in ROLE_KINDS)


def password_key(kind: str) -> str:
    return f"{kind}-password"


def role_name(owner: str, kind: str) -> str:
    return f"{owner}_{kind}"


def identifier_problem(value: str, reserve: int = 0) -> str | None:
    """Why `value` cannot name a PostgreSQL role or database here (with `reserve` bytes left for a suffix), or None."""
    if not IDENTIFIER.fullmatch(value):
        return f"{value!r} must be lower-case letters, digits and '_', not starting with a digit"
    if len(value) + reserve > MAX_IDENTIFIER_BYTES:
        return (f"{value!r} is {len(value)} characters; at most {MAX_IDENTIFIER_BYTES - reserve}"
                + (f" (the roles' names add up to {reserve})" if reserve else ""))
    if value.startswith("pg_"):
        return f"{value!r} starts with pg_, which PostgreSQL reserves for its own roles"
    return None


@dataclass(frozen=True)
class DatabaseRoles:
    """The roles the migration Job creates and grants (MlflowPostgres.roles, MlflowServerArgs.database_roles)."""

    secret_name: pulumi.Input[str]
    """The Secret with the owner's URIs (owner-uri, owner-auth-uri) and each role's password (<kind>-password)."""
    app: str
    """The server's, the jobs pod's and gc's role."""
    monitor: str | None = None
    """postgres_exporter's role, when there is one."""
    backup: str | None = None
    """pg_dump's role, when there is one."""
    revision: pulumi.Input[str] | None = None
    """Changes whenever a role's password does (MlflowPostgres.roles_revision): the Job, replaced, sets the new ones,
    and the server's pods roll after it."""

    def __post_init__(self) -> None:
        problems = [f"{kind}: {problem}" for kind, name in self.named().items()
                    if (problem := identifier_problem(name))]
        if problems:
            raise ValueError("DatabaseRoles: " + "; ".join(problems))

    def named(self) -> dict[str, str]:
        """kind -> role name, for the roles there are."""
        return {kind: name for kind in ROLE_KINDS if (name := getattr(self, kind))}


def passwords_revision(passwords: list[pulumi.Output[str]]) -> pulumi.Output[str]:
    """A digest of the roles' passwords (64 bits of SHA-256 over ~190 random bits each): it tells nothing about them,
    so it is not a secret, and the Job's and the pods' specs stay readable in `pulumi preview`."""
    return pulumi.Output.unsecret(pulumi.Output.all(*passwords).apply(revision_of))


def revision_of(passwords: list[str]) -> str:
    return hashlib.sha256("\n".join(passwords).encode()).hexdigest()[:16]
