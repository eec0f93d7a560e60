"""What MlflowPostgres takes: the mode and everything each mode needs, validated when built."""

from dataclasses import dataclass, field
from typing import Literal

import pulumi

from mlflow_platform.artifact_bucket.store import BackupTarget
from mlflow_platform.kube.pods import PodSettings
from mlflow_platform.kube.resources import ResourceSpec, WorkloadSizes
from mlflow_platform.mlflow_postgres.engines import DATABASE_ENGINES, DEFAULT_PORTS, MYSQL_TLS, DatabaseEngine
from mlflow_platform.mlflow_postgres.roles import LONGEST_SUFFIX, identifier_problem
from mlflow_platform.validation import (
    arn_problem,
    cron_problem,
    database_host_problem,
    dns_label_problem,
    dns_subdomain_problem,
    image_problem,
    input_problem,
    quantity_problem,
    refuse,
)
from mlflow_platform.versions import MLFLOW_IMAGE, PGBOUNCER_IMAGE, POSTGRES_EXPORTER_IMAGE, POSTGRES_IMAGE

MIN_BACKUP_RETENTION_DAYS = 7
OWNER = "MlflowPostgresArgs"


@dataclass(frozen=True)
class DatabaseNetwork:
    """Where the RDS instance lives and who may connect (typically a cluster stack's outputs)."""

    vpc_id: pulumi.Input[str]
    """The VPC the instance and its security group are in."""
    subnet_ids: pulumi.Input[list[str]]
    """Private subnets, in at least two availability zones."""
    client_security_group_id: pulumi.Input[str]
    """The security group of the cluster's nodes/pods: the only source allowed on 5432."""


@dataclass(frozen=True)
class RdsOptions:
    """An RDS for PostgreSQL instance (mode rds)."""

    network: DatabaseNetwork
    """The VPC, subnets and the clients' security group."""
    engine_version: str = "17.6"
    """PostgreSQL major.minor, pinned."""
    instance_class: str = "db.t4g.medium"
    """e.g. db.t4g.medium or db.m7g.large."""
    allocated_storage_gb: int = 50
    """gp3 storage at creation."""
    max_allocated_storage_gb: int = 200
    """Storage autoscaling's ceiling."""
    multi_az: bool = True
    """A standby in a second availability zone."""
    backup_retention_days: int = 7
    """Automated backups and point-in-time recovery window (at least 7 with data protection)."""
    deletion_protection: bool = True
    """Refuse deletes (required with data protection)."""
    storage_encrypted: bool = True
    """Encrypt storage and snapshots (required with data protection)."""
    kms_key_arn: pulumi.Input[str] | None = None
    """A customer-managed KMS key for the storage; None uses the AWS-managed RDS key."""
    tags: dict[str, str] = field(default_factory=dict)
    """AWS tags on every resource here."""

    def protection_problems(self) -> dict[str, str]:
        """Settings that could lose data, by field name (refused while data protection is on)."""
        problems = {}
        if not self.deletion_protection:
            problems["deletion_protection"] = "must be true: without it one `pulumi destroy` deletes the database"
        if not self.storage_encrypted:
            problems["storage_encrypted"] = "must be true: the database holds every experiment's metadata"
        if self.backup_retention_days < MIN_BACKUP_RETENTION_DAYS:
            problems["backup_retention_days"] = f"must be at least {MIN_BACKUP_RETENTION_DAYS} (point-in-time recovery window)"
        return problems


@dataclass(frozen=True)
class ConnectionPooler:
    """PgBouncer in transaction mode between the server pods and PostgreSQL (mlflow_postgres/pooler.py): the server,
    the jobs pod and gc connect to it, the migration Job and the backup to the database itself. PostgreSQL then sees
    at most (replicas + 1 during a rollout) x pool_size x the two databases (mlflow, mlflow_auth) connections, however
    many server pods there are."""

    replicas: int = 2
    """PgBouncer pods (one process each, single-threaded); two keep the database reachable through a drain."""
    pool_size: int = 20
    """Server connections each PgBouncer pod opens to each database at most (default_pool_size, max_db_connections):
    how many transactions run at once per database and pod. Clients beyond it wait in PgBouncer's queue."""
    max_client_connections: int = 2000
    """Client connections each PgBouncer pod accepts (max_client_conn): at least every server process's pools, since
    the Service may send them all to one pod (checked by the stack's settings)."""
    image: str = PGBOUNCER_IMAGE
    """PgBouncer's image, pinned (versions.py)."""

    def problems(self) -> list[str | None]:
        return [
            image_problem(self.image),
            None if 1 <= self.replicas <= 20 else "pooler.replicas must be between 1 and 20",
            None if 1 <= self.pool_size <= 1000 else "pooler.pool_size must be between 1 and 1000",
            None if 10 <= self.max_client_connections <= 100000
            else "pooler.max_client_connections must be between 10 and 100000",
        ]

    def server_connections(self, databases: int = 2) -> int:
        """What the poolers may open to PostgreSQL at most: every pod, one more during a rollout (maxSurge 1), each
        pool_size per database."""
        return (self.replicas + 1) * self.pool_size * databases


DatabaseMode = Literal["in-cluster", "rds", "external", "sqlite"]
DATABASE_MODES: tuple[str, ...] = ("in-cluster", "rds", "external", "sqlite")
# sqlite: one file on a ReadWriteOnce volume, mounted here in the server's and the migration's pods.
SQLITE_DIR = "/var/lib/mlflow"
URI_SECRET_KEY = "uri"
# With a pooler the URI Secret also holds the database's own URIs, for what needs a session of its own (the migration).
DIRECT_URI_SECRET_KEY = "direct-uri"
DIRECT_AUTH_URI_SECRET_KEY = "direct-auth-uri"
AUTH_DATABASE = "mlflow_auth"


@dataclass(frozen=True)
class ExternalDatabase:
    """A PostgreSQL or MySQL server you run (mode external)."""

    host: pulumi.Input[str]
    """The server's host name or IP address (e.g. an Aurora or Cloud SQL endpoint output)."""
    password: pulumi.Input[str]
    """A Pulumi secret."""
    port: int | None = None
    """None: the engine's standard port (5432, 3306)."""
    ssl_mode: str = "require"
    """libpq's sslmode; for MySQL the same guarantee in PyMySQL's parameters (engines.py)."""
    engine: DatabaseEngine = "postgresql"
    """postgresql or mysql."""
    uri_secret: pulumi.Input[str] | None = None
    """A Secret in the namespace whose key `uri` is the whole SQLAlchemy URI, made and rotated by you (External
    Secrets, Vault): then `password` is unused and the program never sees it. The URI must carry the TLS parameters
    of `ssl_mode` (tls_query), which the migration Job checks before it migrates."""
    creates_roles: bool = False
    """PostgreSQL: the user owns both databases and may create roles (CREATEROLE), so the migration Job gives the
    workloads least-privilege roles as on RDS (mlflow_postgres/roles.py). False: every pod connects as the user."""

    @property
    def server_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.engine]


@dataclass(frozen=True)
class MlflowPostgresArgs:
    """What MlflowPostgres takes.

    Fields typed pulumi.Input (namespace, the external host and URI Secret, the CA Secret, RDS's network and KMS key)
    accept other resources' outputs: known values are checked at preview, unknown ones when they resolve. Every other
    field must be known at preview: the mode and sizes decide which objects exist, and max_connections bounds the
    connection budget checked then.
    """

    namespace: pulumi.Input[str]
    """Namespace of the URI Secret (and of the StatefulSet in-cluster)."""
    mode: DatabaseMode = "in-cluster"
    """Where the database lives; each mode is a different set of resources (sqlite: a volume, no server)."""
    database: str = "mlflow"
    """The tracking database's name (the auth app's is mlflow_auth beside it)."""
    username: str = "mlflow"
    """The owner of the databases; with roles (manages_roles) only the migration connects as it, else every pod."""
    max_connections: int = 100
    """PostgreSQL max_connections (set in-cluster and on RDS; what the external server allows)."""
    data_protection: bool = True
    """Keep data on destroy: the volume retained, the RDS instance protected; refuse unsafe RDS settings."""
    # in-cluster
    image: str = POSTGRES_IMAGE
    """Pinned PostgreSQL server image (Debian variant: runs as uid 999)."""
    storage_size: str = "10Gi"
    """The data volume: PostgreSQL's in-cluster, the database file's with sqlite."""
    storage_class: str | None = None
    """The data volume's StorageClass; None uses the cluster's default."""
    resources: ResourceSpec = field(
        default_factory=lambda: ResourceSpec(cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi")
    )
    """in-cluster: PostgreSQL's requests and limits."""
    metrics_exporter: bool = False
    """A postgres_exporter sidecar (in-cluster) for the monitoring stack."""
    exporter_image: str = POSTGRES_EXPORTER_IMAGE
    """postgres_exporter's image, pinned."""
    backup: BackupTarget | None = None
    """in-cluster: where a CronJob uploads pg_dump backups (None: no backups)."""
    backup_schedule: str = "0 3 * * *"
    """When the backup CronJob runs (a Kubernetes cron schedule)."""
    backup_image: str = MLFLOW_IMAGE
    """The image the backup's upload runs in: Python with boto3, as MLflow's -full image (already on the nodes)."""
    # rds / external
    rds: RdsOptions | None = None
    """mode rds: the instance and its network."""
    external: ExternalDatabase | None = None
    """mode external: the server you run."""
    ca_secret: pulumi.Input[str] | None = None
    """A Secret in the namespace whose ca.crt is the database server's CA bundle: RDS is then reached with
    verify-full, and external with its verify-ca/verify-full."""
    pooler: ConnectionPooler | None = None
    """PgBouncer between the server pods and PostgreSQL (any PostgreSQL mode; not MySQL or SQLite); None: the pods
    connect to the database itself."""
    sizes: WorkloadSizes = field(default_factory=WorkloadSizes)
    """The size of each small workload here (mlflow_platform/kube/resources.py DEFAULT_RESOURCES)."""
    pods: PodSettings = field(default_factory=PodSettings)
    """Scheduling, pull secrets and metadata for every pod here."""

    @property
    def engine(self) -> DatabaseEngine:
        """PostgreSQL, unless an external server says otherwise."""
        return self.external.engine if self.external else "postgresql"

    @property
    def port(self) -> int | None:
        """Where clients connect: the NetworkPolicies' egress port; None for sqlite (a file, no network)."""
        if self.mode == "sqlite":
            return None
        return self.external.server_port if self.external else DEFAULT_PORTS["postgresql"]

    @property
    def manages_roles(self) -> bool:
        """Whether the workloads get roles of their own: where the program holds the owner's password and it may
        create roles (roles.py)."""
        if self.mode == "external":
            return bool(self.external and self.external.creates_roles)
        return self.mode in ("in-cluster", "rds")

    @property
    def role_kinds(self) -> tuple[str, ...]:
        """The roles the workloads here connect as: the app's, and in-cluster the exporter's and the backup's."""
        if not self.manages_roles:
            return ()
        in_cluster = self.mode == "in-cluster"
        return ("app", *(("monitor",) if in_cluster and self.metrics_exporter else ()),
                *(("backup",) if in_cluster and self.backup else ()))

    def _name_problems(self) -> list[str | None]:
        """PostgreSQL's rule for identifiers, with room for the roles' suffixes after the user's name."""
        if self.mode == "sqlite" or self.engine != "postgresql":
            return []
        return [f"username: {problem}" if (problem := identifier_problem(self.username, LONGEST_SUFFIX)) else None,
                f"database: {problem}" if (problem := identifier_problem(self.database)) else None]

    def _external_problems(self) -> list[str | None]:
        if not self.external:
            return []
        external = self.external
        return [
            None if not external.creates_roles or (external.engine == "postgresql" and not external.uri_secret)
            else "creates_roles is for PostgreSQL with the password given here (not mysql, not a URI Secret)",
            input_problem(OWNER, external, "host", database_host_problem),
            input_problem(OWNER, external, "uri_secret", dns_subdomain_problem),
            None if external.engine in DATABASE_ENGINES else f"engine {external.engine!r} is not one of {DATABASE_ENGINES}",
            None if external.port is None or 1 <= external.port <= 65535 else f"port {external.port} is not 1 to 65535",
            None if external.engine != "mysql" or external.ssl_mode in MYSQL_TLS
            else f"ssl_mode {external.ssl_mode!r} has no MySQL equivalent; use one of {', '.join(MYSQL_TLS)}",
        ]

    def _pooler_problems(self) -> list[str | None]:
        if self.pooler is None:
            return []
        return [
            *self.pooler.problems(),
            None if self.mode != "sqlite" else "a pooler is for PostgreSQL: sqlite is a file, with no connections to pool",
            None if self.engine == "postgresql" else (
                "a pooler is for PostgreSQL: PgBouncer speaks PostgreSQL's protocol only, not MySQL's (use ProxySQL or "
                "your server's own limits for MySQL/MariaDB)"),
            None if not (self.external and self.external.uri_secret) else (
                "a pooler needs the password to log in to the database (its userlist), which a URI Secret of your own "
                "keeps from the program: use the external password instead"),
        ]

    def __post_init__(self) -> None:
        refuse(
            OWNER,
            *self._pooler_problems(),
            *self._external_problems(),
            *self._name_problems(),
            input_problem(OWNER, self, "namespace", dns_label_problem),
            input_problem(OWNER, self, "ca_secret", dns_subdomain_problem),
            input_problem(OWNER, self.rds, "kms_key_arn", arn_problem) if self.rds else None,
            image_problem(self.image),
            image_problem(self.backup_image),
            None if self.mode in DATABASE_MODES else f"mode {self.mode!r} is not one of {DATABASE_MODES}",
            None if 20 <= self.max_connections <= 10000 else "max_connections must be between 20 and 10000",
            None if self.mode != "rds" or self.rds else "mode rds needs rds options",
            None if self.mode != "external" or self.external else "mode external needs the external database",
            None if not self.backup or self.mode == "in-cluster" else "backups are for in-cluster (RDS backs itself up)",
            cron_problem(self.backup_schedule),
            *(f"rds.{key} {message}" for key, message in (self.rds.protection_problems().items()
                                                          if self.rds and self.data_protection else ())),
            quantity_problem(self.storage_size),
        )
