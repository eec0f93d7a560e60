"""How long `pulumi up` waits for each workload: the image pull on a slow link plus the work, with margin.

pulumi-kubernetes waits for Deployments (Available), StatefulSets (every replica ready) and Jobs
(Complete) and gives up after 10 minutes unless the resource has customTimeouts
(provider/pkg/await/await.go; metadata.TimeoutDuration prefers customTimeouts). A first `up` on a
fresh node pulls the MLflow `-full` image (about 1.5 GB) before anything runs, so that default is
shorter than the work: the update would fail half applied, with the Job still running.
"""

import math
from collections.abc import Mapping
from typing import Any

import pulumi

# A slow but common link: 2 MB/s (16 Mbit/s). Registries often serve faster; the margin covers worse.
PULL_MEGABYTES_PER_SECOND = 2
MARGIN = 1.5
# pulumi-kubernetes' own default (DefaultJobTimeoutMins, DefaultDeploymentTimeoutMins, ...): never wait less.
PROVIDER_DEFAULT_MINUTES = 10
# After a Job's own deadline, wait this much longer so the Job's failure and its reason are what `up` reports.
AFTER_DEADLINE_MINUTES = 5

# Compressed image sizes (linux/amd64, what a node downloads), rounded up.
MLFLOW_FULL_IMAGE_MEGABYTES = 1600
POSTGRES_IMAGE_MEGABYTES = 160
MINIO_IMAGE_MEGABYTES = 70
MINIO_CLIENT_IMAGE_MEGABYTES = 40
OAUTH2_PROXY_IMAGE_MEGABYTES = 20
CLOUDFLARED_IMAGE_MEGABYTES = 30


def probe_budget_seconds(container: Mapping[str, Any]) -> int:
    """The longest the kubelet lets a container take to become ready: its startup probe's window,
    then its readiness probe's failure window. Measured starts are far shorter (MLflow: 8 s cold)."""
    total = 0
    for probe in ("startupProbe", "readinessProbe"):
        spec = container.get(probe)
        if isinstance(spec, dict):
            total += int(spec.get("periodSeconds", 10)) * int(spec.get("failureThreshold", 3))
    return total


def await_timeout(image_megabytes: int, work_seconds: int) -> pulumi.CustomTimeouts:
    """create and update both wait for the pull and the work; delete keeps the provider's default."""
    minutes = math.ceil((image_megabytes / PULL_MEGABYTES_PER_SECOND + work_seconds) * MARGIN / 60)
    return _minutes(max(minutes, PROVIDER_DEFAULT_MINUTES))


def job_timeout(active_deadline_seconds: int) -> pulumi.CustomTimeouts:
    """A Job's activeDeadlineSeconds already bounds its pull and its work: wait a little longer than it."""
    return _minutes(math.ceil(active_deadline_seconds / 60) + AFTER_DEADLINE_MINUTES)


def _minutes(minutes: int) -> pulumi.CustomTimeouts:
    return pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")
