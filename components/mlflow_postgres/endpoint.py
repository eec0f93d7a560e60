"""What a database mode hands to the component: the same shape for in-cluster, RDS and external."""

from dataclasses import dataclass, field
from typing import Any

import pulumi
from sqlalchemy.engine import URL

POSTGRES_PORT = 5432
# Where clients of an out-of-cluster database find its CA bundle (databaseCaSecret), for sslmode verify-full.
DATABASE_CA_DIR = "/etc/mlflow-platform/database-ca"
DATABASE_CA_KEY = "ca.crt"


def tls_query(ssl_mode: str, ca_secret: str | None) -> dict[str, str]:
    """libpq's parameters: with a CA, it is the root libpq verifies the server against (else it would look for
    ~/.postgresql/root.crt, which the image does not have)."""
    return {"sslmode": ssl_mode, **({"sslrootcert": f"{DATABASE_CA_DIR}/{DATABASE_CA_KEY}"} if ca_secret else {})}


def ca_volume(ca_secret: str) -> dict[str, Any]:
    return {"name": "database-ca", "secret": {"secretName": ca_secret,
                                              "items": [{"key": DATABASE_CA_KEY, "path": DATABASE_CA_KEY}]}}


CA_MOUNT = {"name": "database-ca", "mountPath": DATABASE_CA_DIR, "readOnly": True}


def database_uri(username: str, password: str, host: str, port: int, database: str, query: dict[str, str]) -> str:
    """SQLAlchemy's URL, which escapes every part: a password like p@ss:w/rd?#1 stays one password."""
    return URL.create("postgresql+psycopg2", username=username, password=password, host=host, port=int(port),
                      database=database, query=query).render_as_string(hide_password=False)


@dataclass(frozen=True)
class DatabaseEndpoint:
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    password: pulumi.Output[str]
    query: dict[str, str] = field(default_factory=dict)
    """URI query parameters, e.g. {"sslmode": "require"}."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """Resources that must exist before clients connect."""
    extra_outputs: dict[str, pulumi.Output[Any]] = field(default_factory=dict)
    pod_selector: dict[str, str] | None = None
    """Labels of the database pods when they run in the cluster."""
