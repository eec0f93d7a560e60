"""MLflow's backend store: PostgreSQL in the cluster (dev), on RDS, or an external server you already run (PostgreSQL,
or MySQL/MariaDB); or, throwaway, a SQLite file on a volume."""


from functools import partial
from typing import overload

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlflow_platform.conversion import args_of
from mlflow_platform.inputs import MlflowPostgresInputs
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.mlflow_postgres.args import (
    AUTH_DATABASE,
    DATABASE_MODES,
    DIRECT_AUTH_URI_SECRET_KEY,
    DIRECT_URI_SECRET_KEY,
    SQLITE_DIR,
    URI_SECRET_KEY,
    ConnectionPooler,
    DatabaseMode,
    DatabaseNetwork,
    ExternalDatabase,
    MlflowPostgresArgs,
    RdsOptions,
)
from mlflow_platform.mlflow_postgres.endpoint import DatabaseEndpoint, database_uri
from mlflow_platform.mlflow_postgres.engines import DATABASE_ENGINES, DatabaseEngine
from mlflow_platform.mlflow_postgres.external import external_database
from mlflow_platform.mlflow_postgres.in_cluster import in_cluster_database
from mlflow_platform.mlflow_postgres.pooler import POOLED_QUERY, pooler_workload
from mlflow_platform.mlflow_postgres.rds import rds_database
from mlflow_platform.mlflow_postgres.roles import (
    OWNER_AUTH_URI_KEY,
    OWNER_URI_KEY,
    DatabaseRoles,
    password_key,
    passwords_revision,
    role_name,
)
from mlflow_platform.mlflow_postgres.sqlite import sqlite_database
from mlflow_platform.outputs import registered_outputs

__all__ = [
    "AUTH_DATABASE",
    "DATABASE_ENGINES",
    "DATABASE_MODES",
    "DIRECT_AUTH_URI_SECRET_KEY",
    "DIRECT_URI_SECRET_KEY",
    "SQLITE_DIR",
    "URI_SECRET_KEY",
    "ConnectionPooler",
    "DatabaseEngine",
    "DatabaseMode",
    "DatabaseNetwork",
    "DatabaseRoles",
    "ExternalDatabase",
    "MlflowPostgres",
    "MlflowPostgresArgs",
    "RdsOptions",
]


class MlflowPostgres(pulumi.ComponentResource):
    """MLflow's backend store (PostgreSQL; MySQL when external; a SQLite file on a volume), with the SQLAlchemy URI
    kept in a Kubernetes Secret."""

    host: pulumi.Output[str]
    """The database server's host (sqlite: the database file's path)."""
    port: pulumi.Output[int]
    """The database server's port."""
    database: pulumi.Output[str]
    """The tracking database's name."""
    username: pulumi.Output[str]
    """The user MLflow's server connects as: the app role with roles, else the configured user."""
    password: pulumi.Output[str]
    """A secret: that user's password."""
    roles_secret_name: pulumi.Output[str] | None
    """With roles: the Secret only the migration Job reads (the owner's URIs, the roles' passwords); None without."""
    role_names: dict[str, str] | None
    """With roles: app, monitor, backup -> the role's name (mlflow_postgres/roles.py); None without."""
    roles_revision: pulumi.Output[str] | None
    """With roles: changes whenever a role's password does (DatabaseRoles.revision); None without."""
    uri_secret_name: pulumi.Output[str]
    """The Secret whose key uri_secret_key is the SQLAlchemy URI (MlflowServer's backend_uri_secret_name)."""
    uri_secret_key: pulumi.Output[str]
    """The key of the URI in that Secret."""
    auth_database_uri: pulumi.Output[str] | None
    """A secret: the URI of AUTH_DATABASE, for MLflow's auth app (created by the server's migration Job); None when
    the URI is the user's own Secret (the program does not know it)."""
    required_uri_query: dict[str, str] | None
    """With the user's URI Secret: the TLS parameters its URI must carry (the migration Job checks them)."""
    pod_selector: dict[str, str] | None
    """Labels of the in-cluster database pods (None for RDS and external)."""
    backup_selector: dict[str, str] | None
    """Labels of the backup job's pods, when there is one."""
    volume_claim: pulumi.Output[str] | None
    """sqlite: the PersistentVolumeClaim with the database file (MlflowServerArgs.database_volume_claim)."""
    endpoint: pulumi.Output[str]
    """host:port, or the database file's path (sqlite)."""
    direct_uri_secret_key: pulumi.Output[str] | None
    """With a pooler: the key of the URI Secret whose URI reaches the database itself, not the pooler (the Secret's
    direct-auth-uri the same for the auth database); MlflowServerArgs.direct_uri_secret_key. None without a pooler."""
    pooler_selector: dict[str, str] | None
    """Labels of the PgBouncer pods (NetworkPolicies' pooler); None without a pooler."""
    pooler_port: int | None
    """PgBouncer's port; None without a pooler."""

    @overload
    def __init__(self, name: str, args: MlflowPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    @overload
    def __init__(self, name: str, args: MlflowPostgresInputs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    # The annotation is MlflowPostgresInputs, which the schema is inferred from; Python programs may pass either form.
    def __init__(self, name: str, args: MlflowPostgresInputs, opts: pulumi.ResourceOptions | None = None) -> None:  # type: ignore[misc]
        config = args_of(MlflowPostgresArgs, args)
        super().__init__("mlflow-platform:index:MlflowPostgres", name, None, opts)
        self._declare(name, config)

    def _declare(self, name: str, args: MlflowPostgresArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        passwords = {kind: random.RandomPassword(f"{name}-{kind}-password", length=32, special=False, opts=child).result
                     for kind in args.role_kinds}
        self.role_names = {kind: role_name(args.username, kind) for kind in passwords} or None
        self.roles_revision = passwords_revision(list(passwords.values())) if passwords else None
        roles = DatabaseRoles(f"{name}-roles", **self.role_names) if self.role_names else None
        endpoint = self._endpoint(name, args, roles)
        self.host = endpoint.host
        self.port = endpoint.port
        self.database = pulumi.Output.from_input(args.database)
        # With roles, MLflow's pods connect as the app role; the owner's password stays in the roles Secret.
        server_user, server_password = ((roles.app, passwords["app"]) if roles
                                        else (args.username, endpoint.password))
        self.username = pulumi.Output.from_input(server_user)
        self.password = pulumi.Output.secret(server_password)

        # With a pooler the server, jobs pod and gc connect to it; the migration (the owner's URIs, or direct-uri)
        # and pg_dump to the database itself (pooler.py says why).
        pooler = pooler_workload(self, name, args, endpoint, server_user, server_password) if args.pooler else None

        def uri_of(database: str, user: str = server_user, password: pulumi.Input[str] = server_password,
                   pooled: bool = pooler is not None) -> pulumi.Output[str]:
            if endpoint.uri:  # a file (sqlite): no host, port or password
                return pulumi.Output.from_input(endpoint.uri(database))
            if pooled and pooler:
                return pulumi.Output.all(password, pooler.host).apply(
                    lambda parts: database_uri(user, parts[0], parts[1], pooler.port, database, POOLED_QUERY,
                                               endpoint.drivername))
            return pulumi.Output.all(password, endpoint.host, endpoint.port).apply(
                lambda parts: database_uri(user, parts[0], parts[1], parts[2], database, endpoint.query,
                                           endpoint.drivername))

        self.roles_secret_name = None
        if roles:
            owner_uri = partial(uri_of, user=args.username, password=endpoint.password, pooled=False)
            # No dependency on the database being ready: the in-cluster pods mount it (the exporter's password).
            self.roles_secret_name = k8s.core.v1.Secret(
                f"{name}-roles",
                metadata={"name": roles.secret_name, "namespace": args.namespace,
                          "labels": standard_labels(args.engine, name, "database")},
                type="Opaque",
                string_data={OWNER_URI_KEY: pulumi.Output.secret(owner_uri(args.database)),  # type: ignore[arg-type]
                             OWNER_AUTH_URI_KEY: pulumi.Output.secret(owner_uri(AUTH_DATABASE)),  # type: ignore[arg-type]
                             **{password_key(kind): password for kind, password in passwords.items()}},
                opts=child,
            ).metadata.name

        users_secret = args.external.uri_secret if args.external else None
        self.required_uri_query = endpoint.query if users_secret else None
        if users_secret:
            self.auth_database_uri = None
            self.uri_secret_name = pulumi.Output.from_input(users_secret)
        else:
            # MLflow's auth app keeps users and permissions in a database of its own on the same server.
            self.auth_database_uri = pulumi.Output.secret(uri_of(AUTH_DATABASE))
            uri_secret = k8s.core.v1.Secret(
                f"{name}-uri",
                metadata={"name": f"{name}-uri", "namespace": args.namespace,
                          "labels": standard_labels("sqlite" if args.mode == "sqlite" else args.engine, name,
                                                    "database")},
                type="Opaque",
                string_data={URI_SECRET_KEY: pulumi.Output.secret(uri_of(args.database)),  # type: ignore[arg-type]
                             **({key: pulumi.Output.secret(uri_of(database, pooled=False))  # type: ignore[arg-type]
                                 for key, database in ((DIRECT_URI_SECRET_KEY, args.database),
                                                       (DIRECT_AUTH_URI_SECRET_KEY, AUTH_DATABASE))}
                                if pooler else {})},
                opts=pulumi.ResourceOptions(parent=self, depends_on=endpoint.ready),
            )
            self.uri_secret_name = uri_secret.metadata.name
        self.uri_secret_key = pulumi.Output.from_input(URI_SECRET_KEY)
        self.direct_uri_secret_key = pulumi.Output.from_input(DIRECT_URI_SECRET_KEY) if pooler else None
        self.pooler_selector = pooler.selector if pooler else None
        self.pooler_port = pooler.port if pooler else None
        self.pod_selector = endpoint.pod_selector
        self.volume_claim = endpoint.volume_claim
        # What the stack exports as databaseEndpoint: host:port, or where the file is (sqlite, not a secret).
        self.endpoint = (pulumi.Output.from_input(endpoint.uri(args.database)) if endpoint.uri
                         else pulumi.Output.format("{0}:{1}", endpoint.host, endpoint.port))
        self.backup_selector = (selector_labels("postgresql", name, "backup")
                                if args.backup and args.mode == "in-cluster" else None)
        self.register_outputs(registered_outputs(self))

    def roles(self) -> DatabaseRoles | None:
        """What MlflowServerArgs.database_roles takes (Python programs; in other languages, build it from the outputs
        rolesSecretName, roleNames and rolesRevision)."""
        if self.roles_secret_name is None or self.role_names is None:
            return None
        return DatabaseRoles(self.roles_secret_name, **self.role_names, revision=self.roles_revision)

    def _endpoint(self, name: str, args: MlflowPostgresArgs, roles: DatabaseRoles | None) -> DatabaseEndpoint:
        if args.mode == "rds":
            return rds_database(self, name, args)
        if args.mode == "external":
            return external_database(args)
        if args.mode == "sqlite":
            return sqlite_database(self, name, args)
        return in_cluster_database(self, name, args, roles)
