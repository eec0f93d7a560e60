"""What a database mode hands to the component: the same shape for in-cluster, RDS and external."""

from dataclasses import dataclass, field
from typing import Any

import pulumi
from sqlalchemy.engine import URL

POSTGRES_PORT = 5432


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
