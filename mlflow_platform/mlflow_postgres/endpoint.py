"""What a database mode hands to the component: the same shape for in-cluster, RDS and external."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from sqlalchemy.engine import URL

from mlflow_platform.mlflow_postgres.engines import DRIVERS, mysql_tls_query
from mlflow_platform.mlflow_postgres.engines import POSTGRES_PORT as POSTGRES_PORT  # where in_cluster.py and rds.py read it

# Where clients of an out-of-cluster database find its CA bundle (databaseCaSecret), for sslmode verify-full.
DATABASE_CA_DIR = "/etc/mlflow-platform/database-ca"
DATABASE_CA_KEY = "ca.crt"


def tls_query(ssl_mode: str, ca_secret: pulumi.Input[str] | None, engine: str = "postgresql") -> dict[str, str]:
    """libpq's parameters: with a CA, it is the root libpq verifies the server against (else it would look for
    ~/.postgresql/root.crt, which the image does not have). MySQL: the same mode in PyMySQL's terms (engines.py)."""
    ca_file = f"{DATABASE_CA_DIR}/{DATABASE_CA_KEY}" if ca_secret else None
    if engine == "mysql":
        return mysql_tls_query(ssl_mode, ca_file)
    return {"sslmode": ssl_mode, **({"sslrootcert": ca_file} if ca_file else {})}


def ca_volume(ca_secret: pulumi.Input[str]) -> dict[str, Any]:
    return {"name": "database-ca", "secret": {"secretName": ca_secret,
                                              "items": [{"key": DATABASE_CA_KEY, "path": DATABASE_CA_KEY}]}}


CA_MOUNT = {"name": "database-ca", "mountPath": DATABASE_CA_DIR, "readOnly": True}


def database_uri(username: str, password: str, host: str, port: int, database: str, query: dict[str, str],
                 drivername: str = DRIVERS["postgresql"]) -> str:
    """SQLAlchemy's URL, which escapes every part: a password like p@ss:w/rd?#1 stays one password."""
    return URL.create(drivername, username=username, password=password, host=host, port=int(port),
                      database=database, query=query).render_as_string(hide_password=False)


@dataclass(frozen=True)
class DatabaseEndpoint:
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    password: pulumi.Output[str]
    query: dict[str, str] = field(default_factory=dict)
    """URI query parameters, e.g. {"sslmode": "require"}."""
    drivername: str = DRIVERS["postgresql"]
    """SQLAlchemy's dialect+driver (engines.py)."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """Resources that must exist before clients connect."""
    pod_selector: dict[str, str] | None = None
    """Labels of the database pods when they run in the cluster."""
    volume_claim: pulumi.Output[str] | None = None
    """sqlite: the claim holding the database file, which the server's and the migration's pods mount."""
    uri: Callable[[str], str] | None = None
    """A database name -> its URI, for a database that is a file rather than host:port (sqlite)."""
