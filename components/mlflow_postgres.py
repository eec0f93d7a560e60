"""MLflow's backend store: PostgreSQL in the cluster (dev), on RDS, or an external server you already run."""

from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components.artifact_store import BackupTarget
from components.database_endpoint import DatabaseEndpoint
from components.labels import selector_labels, standard_labels
from components.postgres_in_cluster import in_cluster_database
from components.postgres_rds import RdsOptions, rds_database
from components.resources import ResourceSpec
from components.validation import dns_label_problem, image_problem, quantity_problem, refuse
from components.versions import POSTGRES_EXPORTER_IMAGE, POSTGRES_IMAGE

DatabaseMode = Literal["in-cluster", "rds", "external"]
DATABASE_MODES: tuple[str, ...] = ("in-cluster", "rds", "external")
URI_SECRET_KEY = "uri"


@dataclass(frozen=True)
class ExternalDatabase:
    host: str
    password: pulumi.Input[str]
    """A Pulumi secret."""
    port: int = 5432
    ssl_mode: str = "require"


@dataclass(frozen=True)
class MlflowPostgresArgs:
    namespace: str
    """Namespace of the URI Secret (and of the StatefulSet in-cluster)."""
    mode: DatabaseMode = "in-cluster"
    """Where the database lives; each mode is a different set of resources."""
    database: str = "mlflow"
    username: str = "mlflow"
    max_connections: int = 100
    """PostgreSQL max_connections (set in-cluster and on RDS; what the external server allows)."""
    data_protection: bool = True
    """Keep data on destroy: the volume retained, the RDS instance protected; refuse unsafe RDS settings."""
    # in-cluster
    image: str = POSTGRES_IMAGE
    """Pinned PostgreSQL server image (Debian variant: runs as uid 999)."""
    storage_size: str = "10Gi"
    storage_class: str | None = None
    resources: ResourceSpec = field(
        default_factory=lambda: ResourceSpec(cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi")
    )
    metrics_exporter: bool = False
    """A postgres_exporter sidecar (in-cluster) for the monitoring stack."""
    exporter_image: str = POSTGRES_EXPORTER_IMAGE
    backup: BackupTarget | None = None
    """in-cluster: where a CronJob uploads pg_dump backups (None: no backups)."""
    backup_schedule: str = "0 3 * * *"
    # rds / external
    rds: RdsOptions | None = None
    external: ExternalDatabase | None = None

    def __post_init__(self) -> None:
        refuse(
            "MlflowPostgresArgs",
            dns_label_problem(self.namespace),
            image_problem(self.image),
            None if self.mode in DATABASE_MODES else f"mode {self.mode!r} is not one of {DATABASE_MODES}",
            None if 20 <= self.max_connections <= 10000 else "max_connections must be between 20 and 10000",
            None if self.mode != "rds" or self.rds else "mode rds needs rds options",
            None if self.mode != "external" or self.external else "mode external needs the external database",
            None if not self.backup or self.mode == "in-cluster" else "backups are for in-cluster (RDS backs itself up)",
            None if len(self.backup_schedule.split()) == 5 else f"backup_schedule {self.backup_schedule!r} is not cron",
            *(f"rds.{key} {message}" for key, message in (self.rds.protection_problems().items()
                                                          if self.rds and self.data_protection else ())),
            quantity_problem(self.storage_size),
        )


class MlflowPostgres(pulumi.ComponentResource):
    """PostgreSQL as MLflow's backend store, with the SQLAlchemy URI kept in a Kubernetes Secret."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    uri_secret_name: pulumi.Output[str]
    uri_secret_key: pulumi.Output[str]
    outputs: dict[str, pulumi.Output[object]]
    pod_selector: dict[str, str] | None
    """Labels of the in-cluster database pods (None for RDS and external)."""
    backup_selector: dict[str, str] | None
    """Labels of the backup job's pods, when there is one."""

    def __init__(self, name: str, args: MlflowPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlflow-platform:index:MlflowPostgres", name, None, opts)
        endpoint = self._endpoint(name, args)
        self.host = endpoint.host
        self.port = endpoint.port
        self.database = pulumi.Output.from_input(args.database)
        self.username = pulumi.Output.from_input(args.username)
        self.password = pulumi.Output.secret(endpoint.password)
        uri: pulumi.Output[str] = pulumi.Output.format(
            "postgresql+psycopg2://{0}:{1}@{2}:{3}/{4}{5}",
            args.username, endpoint.password, endpoint.host, endpoint.port, args.database,
            f"?{endpoint.query}" if endpoint.query else "",
        )
        uri_secret = k8s.core.v1.Secret(
            f"{name}-uri",
            metadata={"name": f"{name}-uri", "namespace": args.namespace,
                      "labels": standard_labels("postgresql", name, "database")},
            type="Opaque",
            string_data={URI_SECRET_KEY: pulumi.Output.secret(uri)},  # type: ignore[arg-type]  # pulumi infers Never
            opts=pulumi.ResourceOptions(parent=self, depends_on=endpoint.ready),
        )
        self.uri_secret_name = uri_secret.metadata.name
        self.uri_secret_key = pulumi.Output.from_input(URI_SECRET_KEY)
        self.outputs = endpoint.extra_outputs
        self.pod_selector = endpoint.pod_selector
        self.backup_selector = (selector_labels("postgresql", name, "backup")
                                if args.backup and args.mode == "in-cluster" else None)
        self.register_outputs({
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.username,
            "password": self.password,
            "uriSecretName": self.uri_secret_name,
            "uriSecretKey": self.uri_secret_key,
            **endpoint.extra_outputs,
        })

    def _endpoint(self, name: str, args: MlflowPostgresArgs) -> DatabaseEndpoint:
        if args.mode == "rds":
            return rds_database(self, name, args)
        if args.mode == "external":
            assert args.external is not None
            return DatabaseEndpoint(
                host=pulumi.Output.from_input(args.external.host),
                port=pulumi.Output.from_input(args.external.port),
                password=pulumi.Output.secret(args.external.password),
                query=f"sslmode={args.external.ssl_mode}",
            )
        return in_cluster_database(self, name, args)
