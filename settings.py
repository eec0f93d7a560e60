"""The one place stack configuration is read and validated.

Every problem is collected and reported at once, each naming its key and what is allowed,
so `pulumi preview` fails before anything is created.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi

from components.artifact_bucket import ARTIFACT_BACKENDS, ArtifactBucketArgs
from components.connection_budget import ConnectionBudget
from components.mlflow_postgres import DATABASE_MODES, MlflowPostgresArgs
from components.resources import ResourceSpec
from components.validation import bucket_name_problem, dns_label_problem, image_problem, parse_quantity
from components.versions import MINIO_CLIENT_IMAGE, MINIO_IMAGE, MLFLOW_IMAGE, POSTGRES_IMAGE

T = TypeVar("T")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; RunError makes Pulumi print the message without a traceback."""


@dataclass(frozen=True)
class ServerSettings:
    """The MLflow server's configuration; the stack adds the database and artifact wiring."""

    image: str
    replicas: int
    workers: int
    job_execution: bool
    autoscaling: bool
    max_replicas: int
    target_cpu_utilization: int
    resources: ResourceSpec
    tmp_size_limit: str
    metrics: bool
    extra_allowed_hosts: tuple[str, ...]
    pool_size: int
    max_overflow: int
    pool_recycle_seconds: int


@dataclass(frozen=True)
class Settings:
    namespace: str
    kube_context: str | None
    postgres: MlflowPostgresArgs
    artifacts: ArtifactBucketArgs
    server: ServerSettings


class _Reader:
    """Reads raw strings from pulumi.Config and records every problem instead of stopping at the first."""

    def __init__(self, config: pulumi.Config) -> None:
        self._config = config
        self.problems: list[str] = []

    def key(self, name: str) -> str:
        return f"{self._config.name}:{name}"

    def fail(self, name: str, message: str) -> None:
        self.problems.append(f"{self.key(name)}: {message}")

    def _raw(self, name: str) -> str | None:
        return self._config.get(name)

    def _required(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None:
            self.fail(name, "is not set (its default is declared in Pulumi.yaml)")
        return value

    def string(self, name: str, *, allowed: tuple[str, ...] | None = None,
               check: Callable[[str], str | None] | None = None) -> str:
        value = self._required(name)
        if value is None:
            return ""
        if allowed is not None and value not in allowed:
            self.fail(name, f"{value!r} is not allowed; use one of: {', '.join(allowed)}")
        elif check is not None and (problem := check(value)):
            self.fail(name, problem)
        return value

    def optional(self, name: str, *, check: Callable[[str], str | None] | None = None) -> str | None:
        value = self._raw(name) or None
        if value is not None and check is not None and (problem := check(value)):
            self.fail(name, problem)
        return value

    def image(self, name: str, pinned_default: str) -> str:
        return self.optional(name, check=image_problem) or pinned_default

    def quantity(self, name: str) -> str:
        return self.string(name, check=_quantity_problem)

    def integer(self, name: str, *, minimum: int, maximum: int) -> int:
        value = self._required(name)
        if value is None:
            return minimum
        try:
            number = int(value)
        except ValueError:
            self.fail(name, f"{value!r} is not an integer")
            return minimum
        if not minimum <= number <= maximum:
            self.fail(name, f"{number} is out of range; allowed: {minimum} to {maximum}")
        return number

    def boolean(self, name: str) -> bool:
        value = self._required(name)
        if value is None or value.lower() not in ("true", "false"):
            if value is not None:
                self.fail(name, f"{value!r} is not a boolean; use true or false")
            return False
        return value.lower() == "true"

    def string_list(self, name: str, *, check: Callable[[str], str | None] | None = None) -> tuple[str, ...]:
        value = self._raw(name)
        if not value:
            return ()
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.fail(name, f"{value!r} is not a list of strings")
            return ()
        for item in items:
            if check is not None and (problem := check(item)):
                self.fail(name, problem)
        return tuple(items)

    def build(self, name: str, factory: Callable[..., T], **kwargs: Any) -> T | None:
        """Build a validated value object; its own checks become problems on `name`."""
        try:
            return factory(**kwargs)
        except ValueError as err:
            self.fail(name, str(err))
            return None


def _quantity_problem(value: str) -> str | None:
    try:
        parse_quantity(value)
    except ValueError as err:
        return str(err)
    return None


def _host_problem(value: str) -> str | None:
    if not value or any(c.isspace() or c in ",/" for c in value):
        return f"{value!r} is not a host name or host:port pattern"
    return None


def _resources(read: _Reader, prefix: str) -> ResourceSpec | None:
    values = {f"{part}_{kind}": read.quantity(f"{prefix}{part.title()}{kind.title()}")
              for part in ("cpu", "memory") for kind in ("request", "limit")}
    if any(problem.startswith(read.key(prefix)) for problem in read.problems):
        return None
    return read.build(f"{prefix}CpuRequest", ResourceSpec, **values)


def load_settings(config: pulumi.Config | None = None) -> Settings:
    read = _Reader(config or pulumi.Config())

    namespace = read.string("namespace", check=dns_label_problem)
    kube_context = read.optional("kubeContext")
    storage_class = read.optional("storageClass", check=dns_label_problem)
    retain_volumes = read.boolean("retainVolumes")

    database_mode = read.string("databaseMode", allowed=DATABASE_MODES)
    postgres_image = read.image("postgresImage", POSTGRES_IMAGE)
    postgres_storage = read.quantity("postgresStorageSize")
    max_connections = read.integer("postgresMaxConnections", minimum=20, maximum=10000)
    postgres_resources = _resources(read, "postgres")

    backend = read.string("artifactBackend", allowed=ARTIFACT_BACKENDS)
    bucket = read.string("artifactBucket", check=bucket_name_problem)
    minio_image = read.image("minioImage", MINIO_IMAGE)
    minio_client_image = read.image("minioClientImage", MINIO_CLIENT_IMAGE)
    minio_storage = read.quantity("minioStorageSize")

    mlflow_image = read.image("mlflowImage", MLFLOW_IMAGE)
    replicas = read.integer("serverReplicas", minimum=1, maximum=50)
    workers = read.integer("serverWorkers", minimum=1, maximum=32)
    job_execution = read.boolean("serverJobExecution")
    autoscaling = read.boolean("serverAutoscaling")
    max_replicas = read.integer("serverMaxReplicas", minimum=1, maximum=100)
    if autoscaling and max_replicas < replicas:
        read.fail("serverMaxReplicas", f"{max_replicas} is below serverReplicas ({replicas})")
    target_cpu = read.integer("serverTargetCpuUtilization", minimum=10, maximum=100)
    server_resources = _resources(read, "server")
    tmp_size = read.quantity("serverTmpSize")
    metrics = read.boolean("serverMetrics")
    extra_hosts = read.string_list("serverExtraAllowedHosts", check=_host_problem)
    pool_size = read.integer("dbPoolSize", minimum=1, maximum=100)
    # MLflow reads 0 as "unset" and SQLAlchemy then allows 10 overflow connections.
    max_overflow = read.integer("dbMaxOverflow", minimum=1, maximum=100)
    pool_recycle = read.integer("dbPoolRecycleSeconds", minimum=30, maximum=86400)

    budget = ConnectionBudget(
        max_replicas=max_replicas if autoscaling else replicas,
        workers=workers,
        pool_size=pool_size,
        max_overflow=max_overflow,
        job_execution=job_execution,
    )
    if not read.problems and not budget.fits(max_connections):
        read.fail(
            "postgresMaxConnections",
            f"the MLflow server may open more connections than PostgreSQL allows: {budget.explain(max_connections)}. "
            "Raise postgresMaxConnections, or lower serverMaxReplicas/serverReplicas, serverWorkers, "
            "dbPoolSize or dbMaxOverflow.",
        )

    if read.problems or postgres_resources is None or server_resources is None:
        raise ConfigError("invalid stack configuration:\n  - " + "\n  - ".join(read.problems))

    return Settings(
        namespace=namespace,
        kube_context=kube_context,
        postgres=MlflowPostgresArgs(
            namespace=namespace,
            mode=database_mode,  # type: ignore[arg-type]  # checked against DATABASE_MODES above
            image=postgres_image,
            storage_size=postgres_storage,
            storage_class=storage_class,
            max_connections=max_connections,
            resources=postgres_resources,
            retain_on_delete=retain_volumes,
        ),
        artifacts=ArtifactBucketArgs(
            namespace=namespace,
            backend=backend,  # type: ignore[arg-type]  # checked against ARTIFACT_BACKENDS above
            bucket_name=bucket,
            minio_image=minio_image,
            minio_client_image=minio_client_image,
            storage_size=minio_storage,
            storage_class=storage_class,
            retain_on_delete=retain_volumes,
        ),
        server=ServerSettings(
            image=mlflow_image,
            replicas=replicas,
            workers=workers,
            job_execution=job_execution,
            autoscaling=autoscaling,
            max_replicas=max_replicas,
            target_cpu_utilization=target_cpu,
            resources=server_resources,
            tmp_size_limit=tmp_size,
            metrics=metrics,
            extra_allowed_hosts=extra_hosts,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle_seconds=pool_recycle,
        ),
    )
