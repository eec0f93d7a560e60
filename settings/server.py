"""The server area: the MLflow image, scaling, pools and resources, and the hosts it answers."""

import dataclasses
from dataclasses import dataclass

from components.ingress_sso import IngressSsoArgs
from components.kube.resources import ResourceSpec
from components.mlflow_server.connection_budget import (
    RDS_RESERVED_CONNECTIONS,
    SUPERUSER_RESERVED_CONNECTIONS,
    ConnectionBudget,
    pool_problem,
)
from components.versions import MLFLOW_IMAGE
from settings.reader import ConfigReader, host_problem, resources


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
    reject_overlong_values: bool
    extra_allowed_hosts: tuple[str, ...]
    pool_size: int
    max_overflow: int
    pool_recycle_seconds: int
    cors_allowed_origins: tuple[str, ...] = ()

    def behind(self, front_door: IngressSsoArgs | None) -> "ServerSettings":
        """Behind the Ingress the Host header is the ingress host, and the UI's origin its URL:
        without them MLflow answers 403 and refuses the UI's writes."""
        if front_door is None:
            return self
        return dataclasses.replace(self, extra_allowed_hosts=(*self.extra_allowed_hosts, front_door.host),
                                   cors_allowed_origins=(front_door.url,))

    def connection_budget(self, database_mode: str, exporter: bool, backup: bool) -> ConnectionBudget:
        return ConnectionBudget(
            max_replicas=self.max_replicas if self.autoscaling else self.replicas,
            workers=self.workers,
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            job_execution=self.job_execution,
            exporter=exporter,
            backup=backup,
            reserved=RDS_RESERVED_CONNECTIONS if database_mode == "rds" else SUPERUSER_RESERVED_CONNECTIONS,
        )


def read_server(read: ConfigReader) -> ServerSettings | None:
    """None when a key of this area is wrong (the problems are recorded)."""
    mark = len(read.problems)
    replicas = read.integer("serverReplicas", minimum=1, maximum=50)
    autoscaling = read.boolean("serverAutoscaling")
    max_replicas = read.integer("serverMaxReplicas", minimum=1, maximum=100)
    if autoscaling and max_replicas < replicas:
        read.fail("serverMaxReplicas", f"{max_replicas} is below serverReplicas ({replicas})")
    spec = resources(read, "server")
    workers = read.integer("serverWorkers", minimum=1, maximum=32)
    job_execution = read.boolean("serverJobExecution")
    pools = len(read.problems)
    pool_size = read.integer("dbPoolSize", minimum=1, maximum=100)
    # MLflow reads 0 as "unset" and SQLAlchemy then allows 10 overflow connections.
    max_overflow = read.integer("dbMaxOverflow", minimum=1, maximum=100)
    if not read.problems_since(pools) and (problem := pool_problem(pool_size, max_overflow)):
        read.fail("dbMaxOverflow", f"dbPoolSize + dbMaxOverflow is too small: {problem}")
    image = read.image("mlflowImage", MLFLOW_IMAGE)
    if workers > 1 and not image.split("@", 1)[0].endswith("-full"):
        read.fail("serverWorkers", f"{workers} workers need uvloop, which only the -full images have ({image!r} is not "
                                   "one by its tag): on asyncio's loop uvicorn leaves Nagle's algorithm on with several "
                                   "workers (uvicorn#3149) and every kept-alive request waits ~40 ms; use a -full tag "
                                   "(with its digest if you pin one: <image>:v<version>-full@sha256:<digest>) or set "
                                   "serverWorkers to 1")
    target_cpu_utilization = read.integer("serverTargetCpuUtilization", minimum=10, maximum=100)
    # The ingress body limit is derived from it in whole MiB (never 0m, which nginx reads as unlimited).
    tmp_size_limit = read.quantity("serverTmpSize", minimum="1Mi", maximum="1Ti")
    metrics = read.boolean("serverMetrics")
    reject_overlong_values = read.boolean("serverRejectOverlongValues")
    extra_allowed_hosts = read.string_list("serverExtraAllowedHosts", check=host_problem)
    pool_recycle_seconds = read.integer("dbPoolRecycleSeconds", minimum=30, maximum=86400)
    if read.problems_since(mark) or spec is None:
        return None
    return ServerSettings(
        image=image, replicas=replicas, workers=workers, job_execution=job_execution, autoscaling=autoscaling,
        max_replicas=max_replicas, target_cpu_utilization=target_cpu_utilization, resources=spec,
        tmp_size_limit=tmp_size_limit, metrics=metrics, reject_overlong_values=reject_overlong_values,
        extra_allowed_hosts=extra_allowed_hosts, pool_size=pool_size,
        max_overflow=max_overflow, pool_recycle_seconds=pool_recycle_seconds,
    )
