"""The server area: the MLflow image, scaling, pools and resources, and the hosts it answers."""

import dataclasses
from dataclasses import dataclass
from typing import Any

import pulumi

from mlflow_platform.ingress_sso import IngressSsoArgs
from mlflow_platform.kube.disruption import budget_problems
from mlflow_platform.kube.pods import qualified_name_problem
from mlflow_platform.kube.resources import ResourceSpec
from mlflow_platform.mlflow_postgres import ConnectionPooler
from mlflow_platform.mlflow_server.connection_budget import (
    MYSQL_RESERVED_CONNECTIONS,
    RDS_RESERVED_CONNECTIONS,
    SUPERUSER_RESERVED_CONNECTIONS,
    ConnectionBudget,
    pool_problem,
)
from mlflow_platform.mlflow_server.extensions import (
    env_from_problems,
    env_problems,
    volume_problems,
)
from mlflow_platform.versions import MLFLOW_IMAGE
from settings.reader import ConfigReader, resources


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
    extra_allowed_hosts: tuple[pulumi.Input[str], ...]
    pool_size: int
    max_overflow: int
    pool_recycle_seconds: int
    spread_topology_keys: tuple[str, ...]
    spread_when_unsatisfiable: str
    service_type: str
    service_annotations: dict[str, str]
    extra_env: dict[str, str]
    env_from: tuple[dict[str, Any], ...]
    extra_volumes: tuple[dict[str, Any], ...]
    extra_volume_mounts: tuple[dict[str, Any], ...]
    extra_args: tuple[str, ...]
    gc_schedule: str | None
    gc_older_than: str
    disruption_budget: dict[str, int | str]
    static_prefix: str
    cors_allowed_origins: tuple[pulumi.Input[str], ...] = ()

    def behind(self, front_door: IngressSsoArgs | None) -> "ServerSettings":
        """Behind the Ingress the Host header is the ingress host, and the UI's origin its URL:
        without them MLflow answers 403 and refuses the UI's writes."""
        if front_door is None:
            return self
        return dataclasses.replace(self, extra_allowed_hosts=(*self.extra_allowed_hosts, front_door.host),
                                   cors_allowed_origins=(front_door.url,))

    def connection_budget(self, database_mode: str, exporter: bool, backup: bool,
                          engine: str = "postgresql", pooler: ConnectionPooler | None = None) -> ConnectionBudget:
        reserved = (MYSQL_RESERVED_CONNECTIONS if engine == "mysql" else
                    RDS_RESERVED_CONNECTIONS if database_mode == "rds" else SUPERUSER_RESERVED_CONNECTIONS)
        return ConnectionBudget(
            max_replicas=self.max_replicas if self.autoscaling else self.replicas,
            workers=self.workers,
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            job_execution=self.job_execution,
            exporter=exporter,
            backup=backup,
            gc=self.gc_schedule is not None,
            reserved=reserved,
            pooler=pooler,
        )


def read_server(read: ConfigReader) -> ServerSettings | None:
    """None when a key of this area is wrong (the problems are recorded)."""
    mark = len(read.problems)
    replicas = read.integer("serverReplicas")
    autoscaling = read.boolean("serverAutoscaling")
    max_replicas = read.integer("serverMaxReplicas")
    if autoscaling and max_replicas < replicas:
        read.fail("serverMaxReplicas", f"{max_replicas} is below serverReplicas ({replicas})")
    spec = resources(read, "server")
    workers = read.integer("serverWorkers")
    job_execution = read.boolean("serverJobExecution")
    pools = len(read.problems)
    pool_size = read.integer("dbPoolSize")
    # MLflow reads 0 as "unset" and SQLAlchemy then allows 10 overflow connections.
    max_overflow = read.integer("dbMaxOverflow")
    if not read.problems_since(pools) and (problem := pool_problem(pool_size, max_overflow)):
        read.fail("dbMaxOverflow", f"dbPoolSize + dbMaxOverflow is too small: {problem}")
    image = read.image("mlflowImage", MLFLOW_IMAGE)
    if workers > 1 and not image.split("@", 1)[0].endswith("-full"):
        read.fail("serverWorkers", f"{workers} workers need uvloop, which only the -full images have ({image!r} is not "
                                   "one by its tag): on asyncio's loop uvicorn leaves Nagle's algorithm on with several "
                                   "workers (uvicorn#3149) and every kept-alive request waits ~40 ms; use a -full tag "
                                   "(with its digest if you pin one: <image>:v<version>-full@sha256:<digest>) or set "
                                   "serverWorkers to 1")
    target_cpu_utilization = read.integer("serverTargetCpuUtilization")
    # The ingress body limit is derived from it in whole MiB (never 0m, which nginx reads as unlimited).
    tmp_size_limit = read.string("serverTmpSize")
    metrics = read.boolean("serverMetrics")
    reject_overlong_values = read.boolean("serverRejectOverlongValues")
    extra_allowed_hosts = read.string_list("serverExtraAllowedHosts")
    pool_recycle_seconds = read.integer("dbPoolRecycleSeconds")
    spread_keys = read.string_list("serverSpreadTopologyKeys")
    when_unsatisfiable = read.string("serverSpreadWhenUnsatisfiable")
    service_type = read.string("serverServiceType")
    service_annotations = read.mapping("serverServiceAnnotations")
    for key, value in service_annotations.items():
        if problem := qualified_name_problem(key) or (None if isinstance(value, str) else f"{value!r} is not a string"):
            read.fail("serverServiceAnnotations", problem)
    extra_env = read.mapping("serverEnv")
    env_from = read.object_list("serverEnvFrom")
    volumes, mounts = read.object_list("serverExtraVolumes"), read.object_list("serverExtraVolumeMounts")
    extra_args = read.string_list("serverExtraArgs")
    static_prefix = read.optional("serverStaticPrefix") or ""
    if static_prefix and job_execution:
        read.fail("serverStaticPrefix", "cannot be used with serverJobExecution: MLflow points its job runner at "
                                        "http://<host>:<port> without the prefix whatever the environment says "
                                        "(mlflow/server/__init__.py _run_server sets the runner's MLFLOW_TRACKING_URI), "
                                        "while every API route is under it; GenAI evaluate, issue detection and prompt "
                                        "optimisation call the tracking API there (MlflowClient() in "
                                        "mlflow/genai/evaluation/job.py, discovery/job.py, optimize/job.py), so their "
                                        "calls would miss the server")
    gc_schedule = read.optional("gcSchedule")
    gc_older_than = read.string("gcOlderThan")
    disruption_budget = read.mapping("serverDisruptionBudget")
    for problem in budget_problems(disruption_budget, replicas):
        read.fail("serverDisruptionBudget", problem)
    for key, problems in (("serverEnv", env_problems(extra_env)), ("serverEnvFrom", env_from_problems(env_from)),
                          ("serverExtraVolumes", volume_problems(volumes, mounts))):
        for problem in problems:
            read.fail(key, problem)
    if read.problems_since(mark) or spec is None:
        return None
    return ServerSettings(
        image=image, replicas=replicas, workers=workers, job_execution=job_execution, autoscaling=autoscaling,
        max_replicas=max_replicas, target_cpu_utilization=target_cpu_utilization, resources=spec,
        tmp_size_limit=tmp_size_limit, metrics=metrics, reject_overlong_values=reject_overlong_values,
        extra_allowed_hosts=extra_allowed_hosts, pool_size=pool_size,
        max_overflow=max_overflow, pool_recycle_seconds=pool_recycle_seconds, spread_topology_keys=spread_keys,
        spread_when_unsatisfiable=when_unsatisfiable, service_type=service_type, service_annotations=service_annotations,
        extra_env=extra_env, env_from=tuple(env_from), extra_volumes=tuple(volumes), extra_volume_mounts=tuple(mounts),
        extra_args=extra_args, disruption_budget=disruption_budget, static_prefix=static_prefix,
        gc_schedule=gc_schedule, gc_older_than=gc_older_than,
    )
