"""What a database mode hands to the component: the same shape for in-cluster, RDS and external."""

from dataclasses import dataclass, field
from typing import Any

import pulumi

POSTGRES_PORT = 5432


@dataclass(frozen=True)
class DatabaseEndpoint:
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    password: pulumi.Output[str]
    query: str = ""
    """URI query string, e.g. sslmode=require."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """Resources that must exist before clients connect."""
    extra_outputs: dict[str, pulumi.Output[Any]] = field(default_factory=dict)
    pod_selector: dict[str, str] | None = None
    """Labels of the database pods when they run in the cluster."""
