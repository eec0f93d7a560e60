"""What MlflowServer takes: the image, scaling, pools and resources, validated when built."""

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.kube.resources import ResourceSpec
from components.mlflow_server.auth import ServerAuth
from components.mlflow_server.connection_budget import pool_problem
from components.validation import dns_label_problem, image_problem, quantity_problem, refuse
from components.versions import MLFLOW_IMAGE


@dataclass(frozen=True)
class MlflowServerArgs:
    namespace: str
    backend_uri_secret_name: pulumi.Input[str]
    """Secret holding the SQLAlchemy URI (never passed as a literal)."""
    artifacts_destination: pulumi.Input[str]
    """Where the artifact proxy writes, e.g. s3://mlflow-artifacts/."""
    backend_uri_secret_key: str = "uri"
    artifact_store_env: list[dict[str, Any]] = field(default_factory=list)
    """Environment the artifact store needs (endpoint, credential Secret references)."""
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """E.g. the IRSA role (eks.amazonaws.com/role-arn) the artifact store grants."""
    image: str = MLFLOW_IMAGE
    replicas: int = 1
    workers: int = 2
    """uvicorn workers per pod. Above one they need uvloop (the -full image): on asyncio's loop uvicorn leaves Nagle's
    algorithm on with several workers (uvicorn#3149), ~40 ms a request."""
    reject_overlong_values: bool = False
    """Answer 400 to an over-long param or tag instead of MLflow's default, which truncates it and answers 200."""
    job_execution: bool = False
    """MLflow's job runner adds 7 Huey consumers (~1.5 GB) per pod; off unless needed."""
    pool_size: int = 5
    """Connections each engine keeps open; bursts open up to max_overflow more and close them after use."""
    max_overflow: int = 36
    pool_recycle_seconds: int = 300
    resources: ResourceSpec = field(
        default_factory=lambda: ResourceSpec(cpu_request="500m", memory_request="1280Mi", cpu_limit="2", memory_limit="2Gi")
    )
    tmp_size_limit: str = "4Gi"
    """The artifact proxy buffers each upload in /tmp: at least the largest artifact accepted."""
    autoscaling: bool = False
    max_replicas: int = 4
    target_cpu_utilization: int = 75
    metrics: bool = True
    """Serve Prometheus metrics on /metrics (--expose-prometheus)."""
    extra_allowed_hosts: tuple[str, ...] = ()
    """Host headers to accept beyond localhost and the Service names (e.g. an ingress host)."""
    cors_allowed_origins: tuple[str, ...] = ()
    database_ca_secret: str | None = None
    """The database's CA bundle Secret (MlflowPostgresArgs.ca_secret): mounted where the URI's sslrootcert points, in
    every pod that connects (server, jobs pod, migration)."""
    auth: ServerAuth | None = None
    """MLflow's auth app with identities from verified JWTs; None: everyone who reaches the server is an admin."""

    def __post_init__(self) -> None:
        refuse(
            "MlflowServerArgs",
            dns_label_problem(self.namespace),
            image_problem(self.image),
            None if self.replicas >= 1 else "replicas must be at least 1",
            None if 1 <= self.workers <= 32 else "workers must be between 1 and 32",
            None if self.pool_size >= 1 else "pool_size must be at least 1",
            # MLflow ignores 0 (a falsy check) and SQLAlchemy then allows 10 extra connections.
            None if self.max_overflow >= 1 else "max_overflow must be at least 1 (MLflow treats 0 as unset)",
            pool_problem(self.pool_size, self.max_overflow),
            None if self.pool_recycle_seconds >= 1 else "pool_recycle_seconds must be at least 1",
            None if not self.autoscaling or self.max_replicas >= self.replicas else "max_replicas is below replicas",
            None if 1 <= self.target_cpu_utilization <= 100 else "target_cpu_utilization must be 1-100",
            quantity_problem(self.tmp_size_limit),
        )

    @property
    def peak_replicas(self) -> int:
        return self.max_replicas if self.autoscaling else self.replicas
