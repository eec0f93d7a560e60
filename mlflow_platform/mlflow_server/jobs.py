"""MLflow's server-side jobs in one dedicated pod, so the API pods scale without a job runner each.

Why one pod (mlflow 3.17.2, read in the source):
- A job is accepted only by a server whose own environment has MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true
  (mlflow/server/jobs/__init__.py submit_job), and with the default Huey engine it is queued in a
  SQLite file under /dev/shm of the pod that took the request: only that pod's consumers run it.
- The periodic scheduler (online scoring every minute, trace archival) runs wherever job execution is
  on; "in a multi-replica deployment, enable this on only one instance to avoid duplicate scheduling"
  (mlflow/environment_variables.py, MLFLOW_SERVER_JOB_ENABLE_PERIODIC_TASKS).
- There is no jobs-only entry point: the runner is started by `mlflow server` itself
  (mlflow/server/__init__.py _run_server). The `executor` engine claims jobs from the database but
  is documented as single-replica only and still runs periodic tasks on Huey.
So: API pods run with job execution off; one `mlflow server` with it on (strategy Recreate, never two
at once) takes every request that submits a job, which the front door routes to it by path.
"""

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.kube.hardening import empty_dir
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.kube.scanner import SECRETS_AS_ENV, scanner_skips
from mlflow_platform.kube.service import cluster_ip_service
from mlflow_platform.kube.timeouts import MLFLOW_FULL_IMAGE_MEGABYTES, await_timeout, probe_budget_seconds
from mlflow_platform.mlflow_server.hosts import LISTEN_ADDRESS
from mlflow_platform.mlflow_server.migration import MLFLOW_READS_ENV

# Every route whose handler calls submit_job (mlflow/server/job_api.py, handlers.py: scorer, issue
# detection, GenAI evaluate, prompt optimisation). Prefixes: the rest of each family (reading a job,
# cancelling it) is served by the jobs pod too, as by any MLflow server.
JOB_ROUTES = (
    "/ajax-api/3.0/jobs",
    "/ajax-api/3.0/mlflow/scorer/invoke",
    "/ajax-api/3.0/mlflow/issues/invoke",
    "/ajax-api/3.0/mlflow/genai/evaluate/invoke",
    "/ajax-api/3.0/mlflow/prompt-optimization",
    "/api/3.0/mlflow/prompt-optimization",
)
# Huey's queue files live in /dev/shm (mlflow/server/__init__.py mkdtemp); the runtime's default is 64 MiB.
SHM_SIZE = "256Mi"


def tunnel_path_rule() -> str:
    """The path of the Cloudflare tunnel rule (frontDoor cloudflare) that sends JOB_ROUTES to the jobs Service. The
    routes of a remotely managed tunnel are set at Cloudflare, not here; cloudflared matches a rule's path as an
    unanchored Go regular expression against the request's path, rules in order (cloudflare/cloudflared
    ingress/rule.go Matches), so the rule is anchored and goes before the hostname's rule for the mlflow Service."""
    return "^(" + "|".join(route.replace(".", "\\.") for route in JOB_ROUTES) + ")"


# MLflow's job-runner credential (mlflow_platform_auth.py INTERNAL_TOKEN_ENV): `mlflow server` sets a new random one
# for its workers and runner when the auth app and job execution are on (mlflow/server/__init__.py _run_server). Empty
# in every server container, so a value from anywhere else (serverEnvFrom: a container's env wins) never reaches one;
# the identity module admits it only where job execution is on.
INTERNAL_TOKEN_ENV = "_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN"
# Custom @scorer code, which MLflow runs with exec() in the job runner's processes when this is true
# (mlflow/genai/scorers/base.py, _reconstruct_decorator_scorer; off by default). Those processes hold the database's
# credentials and the job credential: any user who may start a job would act as anyone, admins included. Declared
# false in every server container, as the token is empty, so serverEnv and serverEnvFrom cannot turn it on.
CUSTOM_SCORERS_ENV = "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS"


def job_execution_env(enabled: bool) -> list[dict[str, Any]]:
    env = [{"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "value": str(enabled).lower()},
           {"name": INTERNAL_TOKEN_ENV, "value": ""}, {"name": CUSTOM_SCORERS_ENV, "value": "false"}]
    if enabled:
        # Jobs call the server's AI gateway at http://<--host>:<port>, i.e. 0.0.0.0:5000, unless MLFLOW_GATEWAY_URI
        # is set (mlflow/server/__init__.py sets it only when unset): localhost, like any local call.
        env.append({"name": "MLFLOW_GATEWAY_URI", "value": "http://localhost:5000"})
    return env


def job_runner_hosts(enabled: bool) -> tuple[str, ...]:
    """Host headers of the job runner's own calls, which the jobs pod's host check must admit. MLflow sets the runner's
    MLFLOW_TRACKING_URI to http://<--host>:<--port> whatever the environment says (mlflow/server/__init__.py
    _run_server), and GenAI evaluate, issue detection and prompt optimisation call the tracking API there
    (MlflowClient() in mlflow/genai/evaluation/job.py, discovery/job.py, optimize/job.py): `Host: 0.0.0.0:5000`,
    which MLflow's own default list admits (mlflow/server/security_utils.py LOCALHOST_VARIANTS) and --allowed-hosts
    replaces. Only a process in the pod itself sends it; a browser's 0.0.0.0 is its own machine."""
    return (LISTEN_ADDRESS,) if enabled else ()


ContainerFor = Callable[[str, pulumi.Output[str], bool], dict[str, Any]]
"""The server container for a Service name and its ClusterIP (its allowed hosts), with job execution on or off."""


def jobs_service_name(name: str) -> str:
    return f"{name}-jobs"


def jobs_workload(parent: pulumi.ComponentResource, name: str, namespace: pulumi.Input[str], pod_template: dict[str, Any],
                  container_for: ContainerFor, port: int, depends_on: list[pulumi.Resource],
                  resources: dict[str, Any]) -> k8s.core.v1.Service:
    """The jobs Deployment (one pod, replaced, never surged) and its Service, from the API pods' template.
    Returns the Service the front door routes JOB_ROUTES to."""
    jobs_name = jobs_service_name(name)
    labels, selector = standard_labels("mlflow", name, "jobs"), selector_labels("mlflow", name, "jobs")
    metadata = {"namespace": namespace, "labels": labels, "name": jobs_name}
    service = cluster_ip_service(jobs_name, metadata, selector, {"http": port}, parent)
    container = container_for(jobs_name, service.spec.cluster_ip, True)
    jobs_container = {
        **container,
        "resources": resources,
        "volumeMounts": [*container["volumeMounts"], {"name": "shm", "mountPath": "/dev/shm"}],
    }
    probes = {key: value for key, value in container.items() if key.endswith("Probe")}
    k8s.apps.v1.Deployment(
        jobs_name,
        metadata={**metadata, "annotations": scanner_skips({SECRETS_AS_ENV: MLFLOW_READS_ENV}, (container["image"],))},
        spec={
            "replicas": 1,
            "selector": {"matchLabels": selector},
            # Two runners at once would each run the periodic scheduler, and a new runner resets the jobs
            # the old one was running (mlflow/server/jobs/utils.py, recovery of unfinished jobs).
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {**pod_template["metadata"], "labels": {**pod_template["metadata"]["labels"], **labels}},
                "spec": {
                    **{k: v for k, v in pod_template["spec"].items() if k != "topologySpreadConstraints"},
                    "containers": [jobs_container],
                    "volumes": [*pod_template["spec"]["volumes"], empty_dir("shm", SHM_SIZE, medium="Memory")],
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on, custom_timeouts=await_timeout(
            MLFLOW_FULL_IMAGE_MEGABYTES, probe_budget_seconds(probes))),
    )
    return service
