"""MLflow's backend store: PostgreSQL in the cluster (dev), on RDS, or an external server you already run (PostgreSQL,
or MySQL/MariaDB); or, throwaway, a SQLite file on a volume."""


from typing import overload

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.conversion import args_of
from mlflow_platform.inputs import MlflowPostgresInputs
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.mlflow_postgres.args import (
    AUTH_DATABASE,
    DATABASE_MODES,
    SQLITE_DIR,
    URI_SECRET_KEY,
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
from mlflow_platform.mlflow_postgres.rds import rds_database
from mlflow_platform.mlflow_postgres.sqlite import sqlite_database
from mlflow_platform.outputs import registered_outputs

__all__ = [
    "AUTH_DATABASE",
    "DATABASE_ENGINES",
    "DATABASE_MODES",
    "SQLITE_DIR",
    "URI_SECRET_KEY",
    "DatabaseEngine",
    "DatabaseMode",
    "DatabaseNetwork",
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
    """The user MLflow connects as."""
    password: pulumi.Output[str]
    """A secret: that user's password."""
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
        endpoint = self._endpoint(name, args)
        self.host = endpoint.host
        self.port = endpoint.port
        self.database = pulumi.Output.from_input(args.database)
        self.username = pulumi.Output.from_input(args.username)
        self.password = pulumi.Output.secret(endpoint.password)
        def uri_of(database: str) -> pulumi.Output[str]:
            if endpoint.uri:  # a file (sqlite): no host, port or password
                return pulumi.Output.from_input(endpoint.uri(database))
            return pulumi.Output.all(endpoint.password, endpoint.host, endpoint.port).apply(
                lambda parts: database_uri(args.username, parts[0], parts[1], parts[2], database, endpoint.query,
                                           endpoint.drivername))

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
                string_data={URI_SECRET_KEY: pulumi.Output.secret(uri_of(args.database))},  # type: ignore[arg-type]
                opts=pulumi.ResourceOptions(parent=self, depends_on=endpoint.ready),
            )
            self.uri_secret_name = uri_secret.metadata.name
        self.uri_secret_key = pulumi.Output.from_input(URI_SECRET_KEY)
        self.pod_selector = endpoint.pod_selector
        self.volume_claim = endpoint.volume_claim
        # What the stack exports as databaseEndpoint: host:port, or where the file is (sqlite, not a secret).
        self.endpoint = (pulumi.Output.from_input(endpoint.uri(args.database)) if endpoint.uri
                         else pulumi.Output.format("{0}:{1}", endpoint.host, endpoint.port))
        self.backup_selector = (selector_labels("postgresql", name, "backup")
                                if args.backup and args.mode == "in-cluster" else None)
        self.register_outputs(registered_outputs(self))

    def _endpoint(self, name: str, args: MlflowPostgresArgs) -> DatabaseEndpoint:
        if args.mode == "rds":
            return rds_database(self, name, args)
        if args.mode == "external":
            return external_database(args)
        if args.mode == "sqlite":
            return sqlite_database(self, name, args)
        return in_cluster_database(self, name, args)
