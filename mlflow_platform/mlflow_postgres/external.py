"""A PostgreSQL or MySQL server you already run: nothing to create, only its address and the password (a Pulumi secret)."""

import pulumi

from mlflow_platform.mlflow_postgres.args import MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.endpoint import DatabaseEndpoint, tls_query
from mlflow_platform.mlflow_postgres.engines import DRIVERS


def external_database(args: MlflowPostgresArgs) -> DatabaseEndpoint:
    assert args.external is not None  # checked by MlflowPostgresArgs
    return DatabaseEndpoint(
        host=pulumi.Output.from_input(args.external.host),
        port=pulumi.Output.from_input(args.external.server_port),
        password=pulumi.Output.secret(args.external.password),
        query=tls_query(args.external.ssl_mode, args.ca_secret, args.external.engine),
        drivername=DRIVERS[args.external.engine],
    )
