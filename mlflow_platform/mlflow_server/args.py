"""What MlflowServer takes: the image, scaling, pools and resources, validated when built."""

from dataclasses import dataclass, field
from typing import Any

import pulumi

from mlflow_platform.kube.disruption import budget_problems
from mlflow_platform.kube.pods import PodSettings, qualified_name_problem
from mlflow_platform.kube.resources import ResourceSpec, WorkloadSizes
from mlflow_platform.mlflow_postgres.roles import DatabaseRoles
from mlflow_platform.mlflow_server.auth import ServerAuth
from mlflow_platform.mlflow_server.connection_budget import pool_problem
from mlflow_platform.mlflow_server.extensions import (
    env_from_problems,
    env_problems,
    flag_problems,
    static_prefix_problem,
    volume_problems,
)
from mlflow_platform.validation import (
    cron_problem,
    dns_label_problem,
    dns_subdomain_problem,
    host_problem,
    image_problem,
    input_problem,
    inputs_problems,
    older_than_problem,
    origin_problem,
    quantity_problem,
    refuse,
)
from mlflow_platform.versions import MLFLOW_IMAGE

WHEN_UNSATISFIABLE = ("ScheduleAnyway", "DoNotSchedule")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


@dataclass(frozen=True)
class MlflowServerArgs:
    """What MlflowServer takes.

    Fields typed pulumi.Input (namespace, the URI Secret's name, the artifact destination and store environment, the
    ServiceAccount annotations, extra hosts and origins, the CA Secret, the SQLite claim) accept other resources'
    outputs: known values are checked at preview, unknown ones when they resolve. Every other field must be known at
    preview: replicas, workers and pools make the connection budget checked then, and the rest decide which objects
    exist and how they are named.
    """

    namespace: pulumi.Input[str]
    """The namespace of every object here (the server's Service DNS names are built from it)."""
    backend_uri_secret_name: pulumi.Input[str]
    """Secret holding the SQLAlchemy URI (never passed as a literal)."""
    artifacts_destination: pulumi.Input[str]
    """Where the artifact proxy writes, e.g. s3://mlflow-artifacts/."""
    backend_uri_secret_key: str = "uri"
    """The key of that Secret holding the URI."""
    direct_uri_secret_key: str | None = None
    """With a pooler between the pods and the database (MlflowPostgres.direct_uri_secret_key): the key of that Secret
    whose URI reaches the database itself, which the migration Job uses (alembic runs every revision on one
    session); the Secret's direct-auth-uri is the auth database's. None: the Job uses backend_uri_secret_key's URI
    (or the owner's, with database_roles)."""
    required_uri_query: dict[str, str] | None = None
    """Parameters the URI must carry (a URI the user keeps in their own Secret): the migration Job checks them."""
    database_roles: DatabaseRoles | None = None
    """Least-privilege roles (MlflowPostgres.roles): the migration Job connects as the owner and grants them, the
    server, jobs pod and gc connect as the app role (the URI Secret's). None: every pod connects as that URI's user."""
    artifact_store_env: pulumi.Input[list[dict[str, Any]]] = field(default_factory=list)
    """Environment the artifact store needs (endpoint, credential Secret references)."""
    service_account_annotations: pulumi.Input[dict[str, pulumi.Input[str]]] = field(default_factory=dict)
    """E.g. the IRSA role (eks.amazonaws.com/role-arn) the artifact store grants."""
    image: str = MLFLOW_IMAGE
    """The MLflow image, pinned by tag or digest (a -full tag: it has the PostgreSQL driver and boto3)."""
    replicas: int = 1
    """Server pods (the minimum when autoscaling)."""
    workers: int = 2
    """uvicorn workers per pod. Above one they need uvloop (the -full image): on asyncio's loop uvicorn leaves Nagle's
    algorithm on with several workers (uvicorn#3149), ~40 ms a request."""
    reject_overlong_values: bool = False
    """Answer 400 to an over-long param or tag instead of MLflow's default, which truncates it and answers 200."""
    job_execution: bool = False
    """MLflow's job runner adds 7 Huey consumers (~1.5 GB) per pod; off unless needed."""
    gc_schedule: str | None = None
    """When a CronJob runs `mlflow gc` (a Kubernetes cron schedule); None: never, deleted runs are kept."""
    gc_older_than: str = "30d"
    """What gc purges: runs, experiments and logged models deleted longer ago than this (mlflow gc --older-than)."""
    pool_size: int = 5
    """Connections each engine keeps open; bursts open up to max_overflow more and close them after use."""
    max_overflow: int = 36
    """Connections each engine may open above pool_size in a burst; the connection budget counts them."""
    pool_recycle_seconds: int = 300
    """Connections older than this are replaced (RDS and proxies close idle ones)."""
    resources: ResourceSpec = field(
        default_factory=lambda: ResourceSpec(cpu_request="500m", memory_request="1280Mi", cpu_limit="2", memory_limit="2Gi")
    )
    """The server container's requests and limits."""
    tmp_size_limit: str = "4Gi"
    """The artifact proxy buffers each upload in /tmp: at least the largest artifact accepted."""
    autoscaling: bool = False
    """A HorizontalPodAutoscaler on CPU between replicas and max_replicas."""
    max_replicas: int = 4
    """The autoscaler's ceiling; the connection budget counts it."""
    target_cpu_utilization: int = 75
    """The autoscaler's CPU target, in percent of the request."""
    metrics: bool = True
    """Serve Prometheus metrics on /metrics (--expose-prometheus)."""
    extra_allowed_hosts: tuple[pulumi.Input[str], ...] = ()
    """Host headers to accept beyond localhost and the Service names (e.g. an ingress host)."""
    cors_allowed_origins: tuple[pulumi.Input[str], ...] = ()
    """Browser origins the UI is served from (e.g. https://mlflow.example.com, IngressSSO's url)."""
    database_volume_claim: pulumi.Input[str] | None = None
    """A claim holding a SQLite database file (MlflowPostgres' volume_claim), mounted at SQLITE_DIR in the server's
    and the migration's pods. Its volume is ReadWriteOnce and SQLite has one writer: one pod of one worker, replaced
    by Recreate (a surge pod could not mount it), no jobs pod, no auth app."""
    database_ca_secret: pulumi.Input[str] | None = None
    """The database's CA bundle Secret (MlflowPostgresArgs.ca_secret): mounted where the URI's sslrootcert points, in
    every pod that connects (server, jobs pod, migration)."""
    auth: ServerAuth | None = None
    """MLflow's auth app with identities from verified JWTs; None: everyone who reaches the server is an admin."""
    spread_topology_keys: tuple[str, ...] = ("kubernetes.io/hostname",)
    """Node labels the replicas spread over, one skew-1 constraint each (e.g. topology.kubernetes.io/zone)."""
    spread_when_unsatisfiable: str = "ScheduleAnyway"
    """DoNotSchedule leaves a replica Pending rather than put two on one node or zone."""
    service_type: str = "ClusterIP"
    """ClusterIP, NodePort or LoadBalancer (pulumi up then waits for the load balancer's address)."""
    service_annotations: dict[str, str] = field(default_factory=dict)
    """E.g. a cloud load balancer's settings (service.beta.kubernetes.io/aws-load-balancer-*)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """More environment for the server, jobs and migration containers (MLflow's MLFLOW_* settings)."""
    env_from: tuple[dict[str, Any], ...] = ()
    """core/v1 EnvFromSource items (a Secret's or ConfigMap's keys as variables) for the same containers."""
    extra_volumes: tuple[dict[str, Any], ...] = ()
    """core/v1 Volumes added to the server and jobs pods, mounted by extra_volume_mounts."""
    extra_volume_mounts: tuple[dict[str, Any], ...] = ()
    """core/v1 VolumeMounts of extra_volumes in the server and jobs containers."""
    extra_args: tuple[str, ...] = ()
    """More `mlflow server` options, each --option=value (extensions.USER_FLAGS)."""
    sizes: WorkloadSizes = field(default_factory=WorkloadSizes)
    """The size of each small workload here (mlflow_platform/kube/resources.py DEFAULT_RESOURCES)."""
    disruption_budget: dict[str, int | str] = field(default_factory=lambda: {"maxUnavailable": 1})
    """The PodDisruptionBudget's maxUnavailable or minAvailable (a count or a percentage)."""
    static_prefix: str = ""
    """Serve under this path (--static-prefix), e.g. /mlflow: the UI, the API and /health move there; /metrics
    stays at the root (measured on 3.17.2)."""
    pods: PodSettings = field(default_factory=PodSettings)
    """Scheduling, pull secrets and metadata for every pod here (server, jobs, migration)."""

    def __post_init__(self) -> None:
        owner = "MlflowServerArgs"
        refuse(
            owner,
            input_problem(owner, self, "namespace", dns_label_problem),
            *inputs_problems(owner, self, "extra_allowed_hosts", host_problem),
            *inputs_problems(owner, self, "cors_allowed_origins", origin_problem),
            input_problem(owner, self, "database_ca_secret", dns_subdomain_problem),
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
            *(qualified_name_problem(key) for key in self.spread_topology_keys),
            *(qualified_name_problem(key) for key in self.service_annotations),
            None if self.service_type in SERVICE_TYPES else f"service_type must be one of {', '.join(SERVICE_TYPES)}",
            *(f"extra_env: {p}" for p in env_problems(self.extra_env)),
            *(f"env_from: {p}" for p in env_from_problems(self.env_from)),
            *(f"extra_volumes: {p}" for p in volume_problems(self.extra_volumes, self.extra_volume_mounts)),
            *(f"extra_args: {p}" for p in flag_problems(self.extra_args)),
            *(f"disruption_budget: {p}" for p in budget_problems(self.disruption_budget, self.replicas)),
            static_prefix_problem(self.static_prefix),
            None if not (self.static_prefix and self.job_execution) else (
                "job_execution cannot run under a static prefix: MLflow points its job runner at http://<host>:<port> "
                "without the prefix (mlflow/server/__init__.py, MLFLOW_TRACKING_URI of the runner)"),
            *self._sqlite_problems(),
            *self._gc_problems(),
            None if self.spread_when_unsatisfiable in WHEN_UNSATISFIABLE
            else f"spread_when_unsatisfiable must be one of {', '.join(WHEN_UNSATISFIABLE)}",
        )

    def _gc_problems(self) -> list[str | None]:
        if self.gc_schedule is None:
            return []
        return [
            cron_problem(self.gc_schedule),
            None if (problem := older_than_problem(self.gc_older_than)) is None else f"gc_older_than {problem}",
        ]

    def _sqlite_problems(self) -> list[str | None]:
        if self.database_volume_claim is None:
            return []
        return [
            None if self.replicas == 1 and not self.autoscaling else "a SQLite volume holds one pod: replicas 1, "
                                                                     "no autoscaling",
            None if self.workers == 1 else "a SQLite database has one writer: workers 1",
            None if not self.job_execution else "the jobs pod cannot mount the SQLite volume (ReadWriteOnce)",
            None if self.gc_schedule is None else "the gc job cannot mount the SQLite volume (ReadWriteOnce)",
            None if self.auth is None else "the auth app is not for a SQLite database",
            None if self.database_roles is None else "a SQLite file has no roles: database_roles must be None",
        ]

    @property
    def peak_replicas(self) -> int:
        return self.max_replicas if self.autoscaling else self.replicas
