"""Container requests and limits, as one validated value."""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow_platform.validation import parse_quantity, quantity_problem


@dataclass(frozen=True)
class ResourceSpec:
    """A container's CPU and memory requests and limits."""

    cpu_request: str
    """A Kubernetes quantity, e.g. 500m."""
    memory_request: str
    """A Kubernetes quantity, e.g. 512Mi."""
    cpu_limit: str
    """A Kubernetes quantity, at least the request."""
    memory_limit: str
    """A Kubernetes quantity, at least the request."""

    def __post_init__(self) -> None:
        for request, limit, what in (
            (self.cpu_request, self.cpu_limit, "cpu"),
            (self.memory_request, self.memory_limit, "memory"),
        ):
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"{what} request {request} is above its limit {limit}")

    def to_kubernetes(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


# Every workload beside the server and PostgreSQL (which have keys of their own), with the size it gets unless the
# stack says otherwise (workloadResources). Measured where bench/FINDINGS.md says so; small fixed tools otherwise.
DEFAULT_RESOURCES: dict[str, ResourceSpec] = {
    # The jobs pod, measured with 1 worker: launcher, uvicorn worker and runner ~250 MB each, 7 Huey consumers
    # ~195 MB each, the periodic consumer ~250 MB: ~2.1 GB before any job; each running job is a process more.
    "jobs": ResourceSpec("500m", "2560Mi", "2", "4Gi"),
    "migration": ResourceSpec("100m", "256Mi", "1", "1Gi"),
    "metricsSidecar": ResourceSpec("20m", "64Mi", "200m", "128Mi"),
    "postgresExporter": ResourceSpec("20m", "32Mi", "200m", "128Mi"),
    "backup": ResourceSpec("100m", "128Mi", "1", "512Mi"),
    # mlflow gc: one MLflow process deleting one run at a time.
    "gc": ResourceSpec("100m", "512Mi", "1", "1Gi"),
    "minio": ResourceSpec("100m", "256Mi", "1", "1Gi"),
    "minioSetup": ResourceSpec("50m", "64Mi", "500m", "256Mi"),
    "oauth2Proxy": ResourceSpec("50m", "64Mi", "500m", "256Mi"),
    "cloudflared": ResourceSpec("50m", "64Mi", "500m", "256Mi"),
    # PgBouncer (databasePooler): one single-threaded process, a few KB per client connection (two 4 KB packet
    # buffers): a thousand clients fit in a few MB. One core is all it can use.
    "pooler": ResourceSpec("50m", "32Mi", "1", "256Mi"),
}
_FIELDS = {("requests", "cpu"): "cpu_request", ("requests", "memory"): "memory_request",
           ("limits", "cpu"): "cpu_limit", ("limits", "memory"): "memory_limit"}
BOUNDS = {"cpu": ("1m", "256"), "memory": ("16Mi", "1Ti")}


def sized(overrides: Mapping[str, Any]) -> tuple[dict[str, ResourceSpec], list[str]]:
    """Each workload's size from {"<workload>": {"requests": {"cpu", "memory"}, "limits": {...}}} over the defaults
    (any part may be left out), and the problems found, each naming the workload."""
    sizes, problems = dict(DEFAULT_RESOURCES), []
    for workload, given in overrides.items():
        if workload not in DEFAULT_RESOURCES:
            problems.append(f"{workload!r} is not a workload; use: {', '.join(DEFAULT_RESOURCES)}")
            continue
        values = dataclasses.asdict(DEFAULT_RESOURCES[workload])
        for section, parts in (given.items() if isinstance(given, dict) else [(None, None)]):
            if section not in ("requests", "limits") or not isinstance(parts, dict):
                problems.append(f"{workload}: {given!r} is not {{\"requests\": {{\"cpu\", \"memory\"}}, \"limits\": ...}}")
                continue
            for part, value in parts.items():
                low, high = BOUNDS.get(part, ("", ""))
                if part not in BOUNDS:
                    problems.append(f"{workload}.{section}: {part!r} is not cpu or memory")
                elif not isinstance(value, str) or quantity_problem(value) or not (
                        parse_quantity(low) <= parse_quantity(value) <= parse_quantity(high)):
                    problems.append(f"{workload}.{section}.{part}: {value!r} is not a quantity from {low} to {high}")
                else:
                    values[_FIELDS[(section, part)]] = value
        try:
            sizes[workload] = ResourceSpec(**values)
        except ValueError as err:
            problems.append(f"{workload}: {err}")
    return sizes, problems


@dataclass(frozen=True)
class WorkloadSizes:
    """The size of each workload of DEFAULT_RESOURCES (the defaults unless the stack overrides one)."""

    sizes: Mapping[str, ResourceSpec] = dataclasses.field(default_factory=lambda: dict(DEFAULT_RESOURCES))

    def of(self, workload: str) -> dict[str, Any]:
        return self.sizes[workload].to_kubernetes()
