"""MLflow's backend store: PostgreSQL, in-cluster for dev (RDS and external hosts come later)."""

from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.env import secret_env
from components.hardening import container_security_context, empty_dir, pod_security_context
from components.labels import selector_labels, standard_labels
from components.resources import ResourceSpec
from components.validation import dns_label_problem, image_problem, parse_quantity
from components.versions import POSTGRES_IMAGE, POSTGRES_UID

DatabaseMode = Literal["in-cluster"]
DATABASE_MODES: tuple[str, ...] = ("in-cluster",)
POSTGRES_PORT = 5432
URI_SECRET_KEY = "uri"


@dataclass(frozen=True)
class MlflowPostgresArgs:
    namespace: str
    """Namespace of the database objects (in-cluster mode)."""
    mode: DatabaseMode = "in-cluster"
    """Where the database lives; each mode is a different set of resources."""
    image: str = POSTGRES_IMAGE
    """Pinned PostgreSQL server image (Debian variant: runs as uid 999)."""
    storage_size: str = "10Gi"
    """Size of the data volume (a Kubernetes quantity)."""
    storage_class: str | None = None
    """StorageClass of the data volume; None takes the cluster default."""
    max_connections: int = 100
    """PostgreSQL max_connections; the stack checks the server's pools fit under it."""
    database: str = "mlflow"
    username: str = "mlflow"
    resources: ResourceSpec = field(
        default_factory=lambda: ResourceSpec(cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi")
    )
    retain_on_delete: bool = True
    """Keep the data volume when the stack is destroyed (dev may turn this off)."""

    def __post_init__(self) -> None:
        problems = [
            p
            for p in (
                dns_label_problem(self.namespace),
                image_problem(self.image),
                None if self.mode in DATABASE_MODES else f"mode {self.mode!r} is not one of {DATABASE_MODES}",
                None if 20 <= self.max_connections <= 10000 else "max_connections must be between 20 and 10000",
            )
            if p
        ]
        try:
            parse_quantity(self.storage_size)
        except ValueError as err:
            problems.append(str(err))
        if problems:
            raise ValueError("MlflowPostgresArgs: " + "; ".join(problems))


class MlflowPostgres(pulumi.ComponentResource):
    """PostgreSQL as MLflow's backend store, with the SQLAlchemy URI kept in a Kubernetes Secret."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    uri_secret_name: pulumi.Output[str]
    uri_secret_key: pulumi.Output[str]

    def __init__(self, name: str, args: MlflowPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlflow-platform:index:MlflowPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels("postgresql", name, "database")
        selector = selector_labels("postgresql", name, "database")
        metadata = {"namespace": args.namespace, "labels": labels}

        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata={**metadata, "name": f"{name}-credentials"},
            type="Opaque",
            string_data={"password": password.result},
            opts=child,
        )

        data_volume = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata={**metadata, "name": f"{name}-data"},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.storage_size}},
                **({"storageClassName": args.storage_class} if args.storage_class else {}),
            },
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )

        service = k8s.core.v1.Service(
            f"{name}-headless",
            metadata={**metadata, "name": name},
            spec={
                "clusterIP": "None",
                "selector": selector,
                "ports": [{"name": "postgresql", "port": POSTGRES_PORT, "targetPort": "postgresql"}],
            },
            opts=child,
        )

        pg_isready = ["pg_isready", "--host=127.0.0.1", f"--username={args.username}", f"--dbname={args.database}"]
        statefulset = k8s.apps.v1.StatefulSet(
            name,
            metadata={**metadata, "name": name},
            spec={
                "serviceName": name,
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security_context(POSTGRES_UID),
                        "terminationGracePeriodSeconds": 60,
                        "containers": [
                            {
                                "name": "postgresql",
                                "image": args.image,
                                # The image's entrypoint prepends `postgres` to arguments starting with '-'.
                                "args": ["-c", f"max_connections={args.max_connections}"],
                                "ports": [{"name": "postgresql", "containerPort": POSTGRES_PORT}],
                                "env": [
                                    {"name": "POSTGRES_USER", "value": args.username},
                                    {"name": "POSTGRES_DB", "value": args.database},
                                    secret_env("POSTGRES_PASSWORD", credentials.metadata.name, "password"),
                                    # A subdirectory: the volume root may hold lost+found, which initdb refuses.
                                    {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                                ],
                                "resources": args.resources.to_kubernetes(),
                                "securityContext": container_security_context(),
                                # During initdb the server listens on the socket only, so TCP
                                # pg_isready stays false until the database really accepts clients.
                                "startupProbe": {
                                    "exec": {"command": pg_isready},
                                    "periodSeconds": 5,
                                    "failureThreshold": 60,
                                },
                                "readinessProbe": {
                                    "exec": {"command": pg_isready},
                                    "periodSeconds": 10,
                                    "timeoutSeconds": 5,
                                },
                                "livenessProbe": {
                                    "exec": {"command": pg_isready},
                                    "periodSeconds": 20,
                                    "timeoutSeconds": 5,
                                    "failureThreshold": 6,
                                },
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                    {"name": "run", "mountPath": "/var/run/postgresql"},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "data", "persistentVolumeClaim": {"claimName": data_volume.metadata.name}},
                            empty_dir("run", "16Mi"),
                            empty_dir("tmp", "1Gi"),
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[credentials]),
        )

        self.host = pulumi.Output.concat(service.metadata.name, ".", args.namespace, ".svc.cluster.local")
        self.port = pulumi.Output.from_input(POSTGRES_PORT)
        self.database = pulumi.Output.from_input(args.database)
        self.username = pulumi.Output.from_input(args.username)
        self.password = pulumi.Output.secret(password.result)
        uri: pulumi.Output[str] = pulumi.Output.format(
            "postgresql+psycopg2://{0}:{1}@{2}:{3}/{4}",
            args.username, password.result, self.host, POSTGRES_PORT, args.database,
        )
        uri_secret = k8s.core.v1.Secret(
            f"{name}-uri",
            metadata={**metadata, "name": f"{name}-uri"},
            type="Opaque",
            string_data={URI_SECRET_KEY: pulumi.Output.secret(uri)},  # type: ignore[arg-type]  # pulumi infers Never
            opts=pulumi.ResourceOptions(parent=self, depends_on=[statefulset]),
        )
        self.uri_secret_name = uri_secret.metadata.name
        self.uri_secret_key = pulumi.Output.from_input(URI_SECRET_KEY)
        self.register_outputs({
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.username,
            "password": self.password,
            "uriSecretName": self.uri_secret_name,
            "uriSecretKey": self.uri_secret_key,
        })
