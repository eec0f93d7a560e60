"""SQLite for the smallest clusters: one database file on a ReadWriteOnce volume, no server to run.

Throwaway and single-writer by nature: the settings allow it only with one server pod of one worker, no jobs pod,
no auth app and dataProtection off. The server's and the migration's pods mount the claim at SQLITE_DIR
(MlflowServerArgs.database_volume_claim); the URI still reaches them through the URI Secret, as in every mode.
"""

import pulumi

from mlflow_platform.kube.hardening import data_volume
from mlflow_platform.kube.labels import standard_labels
from mlflow_platform.mlflow_postgres.args import SQLITE_DIR, MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.endpoint import DatabaseEndpoint


def sqlite_uri(database: str) -> str:
    """sqlite:/// and an absolute path: four slashes in all."""
    return f"sqlite:///{SQLITE_DIR}/{database}.db"


def sqlite_database(parent: pulumi.Resource, name: str, args: MlflowPostgresArgs) -> DatabaseEndpoint:
    metadata = {"namespace": args.namespace, "labels": standard_labels("sqlite", name, "database")}
    # Its own name, not `<name>-data`: switching a stack from in-cluster must never mount PostgreSQL's volume here.
    claim = data_volume(f"{name}-sqlite", metadata, args.storage_size, args.storage_class, parent,
                        retain=args.data_protection)
    return DatabaseEndpoint(
        host=pulumi.Output.from_input(f"{SQLITE_DIR}/{args.database}.db"),
        port=pulumi.Output.from_input(0),
        password=pulumi.Output.secret(""),
        ready=[claim],
        volume_claim=claim.metadata.name,
        uri=sqlite_uri,
    )
