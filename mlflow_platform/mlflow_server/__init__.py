"""The MLflow tracking server: a one-shot migration Job, then a hardened Deployment behind a Service, and with
server-side jobs one more pod that runs them (jobs.py)."""

import json
from typing import Any, overload

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.conversion import args_of
from mlflow_platform.inputs import MlflowServerInputs
from mlflow_platform.kube.disruption import one_at_a_time
from mlflow_platform.kube.env import secret_env
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.kube.scanner import SECRETS_AS_ENV, scanner_skips
from mlflow_platform.kube.service import cluster_ip_service
from mlflow_platform.kube.timeouts import MLFLOW_FULL_IMAGE_MEGABYTES, await_timeout, probe_budget_seconds
from mlflow_platform.mlflow_postgres.args import DIRECT_AUTH_URI_SECRET_KEY, SQLITE_DIR
from mlflow_platform.mlflow_postgres.endpoint import CA_MOUNT, ca_volume
from mlflow_platform.mlflow_server.args import MlflowServerArgs
from mlflow_platform.mlflow_server.auth import AUTH_DATABASE_ENV, MODULE_DIR, AuthWiring, auth_wiring
from mlflow_platform.mlflow_server.connection_budget import JOBS_POD_WORKERS
from mlflow_platform.mlflow_server.encryption_keys import encryption_key_env
from mlflow_platform.mlflow_server.gc import DESTINATION_ENV, gc_cronjob, gc_env
from mlflow_platform.mlflow_server.hosts import LISTEN_ADDRESS, POD_IP_ENV, allowed_hosts_flag
from mlflow_platform.mlflow_server.jobs import JOB_ROUTES, job_execution_env, job_runner_hosts, jobs_workload
from mlflow_platform.mlflow_server.migration import (
    BACKEND_URI_ENV,
    MLFLOW_READS_ENV,
    REQUIRED_QUERY_ENV,
    SERVER_UID,
    migration_container,
    migration_job,
    owner_auth_env,
    owner_env,
    roles_annotation,
    roles_container,
)
from mlflow_platform.outputs import applied, concatenated, registered_outputs

SERVER_PORT = 5000
# With the auth app, Prometheus scrapes a sidecar here instead of the server's /metrics (mlflow_platform_metrics.py).
METRICS_PORT = 9090
METRICS_DIR = "/var/run/mlflow/metrics"
# Readiness must prove the API and the database answer; /health is static and never touches the DB.
READINESS_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"
# The auth app answers every API call without a token with 401, which the kubelet counts as a failure;
# server-info is its one public API route (mlflow/server/auth/__init__.py): it proves the app and the
# auth layer answer, not the database (the MlflowDatabaseErrors alert covers that).
AUTH_READINESS_PATH = "/api/3.0/mlflow/server-info"
SQLITE_VOLUME = "database"

__all__ = ["JOB_ROUTES", "METRICS_PORT", "SERVER_PORT", "MlflowServer", "MlflowServerArgs", "server_args"]


def with_mounts(container: dict[str, Any], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    return {**container, "volumeMounts": [*container["volumeMounts"], *mounts]} if mounts else container


def server_args(args: MlflowServerArgs, hosts: pulumi.Input[str], workers: int | None = None) -> list[pulumi.Input[str]]:
    """The `mlflow server` arguments; secrets stay out (they arrive as environment variables). `workers`: the jobs
    pod's own count instead of the API pods' (args.workers)."""
    command: list[pulumi.Input[str]] = [
        "server",
        "--host", LISTEN_ADDRESS,
        "--port", str(SERVER_PORT),
        "--workers", str(workers or args.workers),
        "--serve-artifacts",
        "--artifacts-destination", args.artifacts_destination,
        "--allowed-hosts", hosts,
    ]
    if args.cors_allowed_origins:
        command += ["--cors-allowed-origins", applied(lambda *origins: ",".join(origins), *args.cors_allowed_origins)]
    if args.metrics:
        command += ["--expose-prometheus", METRICS_DIR]
    if args.static_prefix:
        command += ["--static-prefix", args.static_prefix]
    if args.auth:
        command += ["--app-name", "basic-auth"]
        if args.auth.teams:
            command += ["--enable-workspaces"]
    return [*command, *args.extra_args]


class MlflowServer(pulumi.ComponentResource):
    """The MLflow tracking server: a one-shot migration Job, then a hardened Deployment behind a Service (and with
    server-side jobs, a pod that runs them)."""

    service_name: pulumi.Output[str]
    """The server's Service."""
    tracking_uri: pulumi.Output[str]
    """The in-cluster tracking URI, http://<service>.<namespace>.svc.cluster.local:5000 (and the static prefix)."""
    service_account_name: pulumi.Output[str]
    """The server pods' ServiceAccount (the IRSA role's annotation is on it)."""
    port: int
    """The Service's port for MLflow's API and UI."""
    metrics_port: int | None
    """The metrics sidecar's port, which only Prometheus may reach; None when Prometheus scrapes the server itself."""
    metrics_port_name: str
    """The Service port Prometheus scrapes (Monitoring's server target)."""
    selector: dict[str, str]
    """Labels of the server pods."""
    migration_selector: dict[str, str]
    """Labels of the migration Job's pods."""
    jobs_selector: dict[str, str] | None
    """Labels of the jobs pod; None without server-side jobs."""
    gc_selector: dict[str, str] | None
    """Labels of the gc job's pods (a client of the database and the bucket); None without gc_schedule."""
    jobs_service_name: pulumi.Output[str] | None
    """The jobs Service the front door sends job submissions to; None without server-side jobs."""

    @overload
    def __init__(self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    @overload
    def __init__(self, name: str, args: MlflowServerInputs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    # The annotation is MlflowServerInputs, which the schema is inferred from; Python programs may pass either form.
    def __init__(self, name: str, args: MlflowServerInputs, opts: pulumi.ResourceOptions | None = None) -> None:  # type: ignore[misc]
        config = args_of(MlflowServerArgs, args)
        super().__init__("mlflow-platform:index:MlflowServer", name, None, opts)
        self._declare(name, config)

    def _declare(self, name: str, args: MlflowServerArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels("mlflow", name, "tracking-server")
        selector = selector_labels("mlflow", name, "tracking-server")
        metadata = {"namespace": args.namespace, "labels": labels}

        backend_env = secret_env(BACKEND_URI_ENV, args.backend_uri_secret_name, args.backend_uri_secret_key)
        pool_env = [
            {"name": "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "value": str(args.pool_size)},
            {"name": "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", "value": str(args.max_overflow)},
            {"name": "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE", "value": str(args.pool_recycle_seconds)},
        ]
        common_env = [
            # A read-only root filesystem: anything MLflow caches goes to the /tmp volume.
            {"name": "HOME", "value": "/tmp"},
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            *({"name": name, "value": value} for name, value in args.extra_env.items()),
        ]

        service_account = k8s.core.v1.ServiceAccount(
            name,
            metadata={**metadata, "name": name, "annotations": args.service_account_annotations},
            # IRSA mounts its own projected token; the API token is never needed.
            automount_service_account_token=False,
            opts=child,
        )

        self.selector = selector
        self.migration_selector = selector_labels("mlflow", name, "migration")
        ca = ([ca_volume(args.database_ca_secret)], [CA_MOUNT]) if args.database_ca_secret else ([], [])
        if args.database_volume_claim is not None:
            # sqlite: like the CA bundle, what every pod that opens the database needs (server, migration).
            ca = ([*ca[0], {"name": SQLITE_VOLUME, "persistentVolumeClaim": {"claimName": args.database_volume_claim}}],
                  [*ca[1], {"name": SQLITE_VOLUME, "mountPath": SQLITE_DIR}])
        required_query = ([{"name": REQUIRED_QUERY_ENV, "value": json.dumps(args.required_uri_query, sort_keys=True)}]
                          if args.required_uri_query is not None else [])
        roles = args.database_roles
        # With roles the Job migrates as the owner; every other pod connects as the app role (backend_env). With a
        # pooler the Job bypasses it (the owner's URIs, or direct_uri_secret_key's): alembic needs one session.
        direct = args.direct_uri_secret_key
        migration_env = (owner_env(roles) if roles else
                         secret_env(BACKEND_URI_ENV, args.backend_uri_secret_name, direct) if direct else backend_env)
        direct_auth = (owner_auth_env(roles) if roles else
                       secret_env(AUTH_DATABASE_ENV, args.backend_uri_secret_name, DIRECT_AUTH_URI_SECRET_KEY)
                       if direct else None)
        tracking_migration = migration_container(args.image, [migration_env, *required_query, *common_env], ca[1],
                                                 args.env_from,
                                                 args.sizes.of("migration"))
        auth = (auth_wiring(self, name, args.namespace, labels, args.auth, args.image, tracking_migration,
                            owner_database=direct_auth)
                if args.auth else None)
        # The migration needs the database only: an account of its own, without the server's IRSA role (S3).
        migration_account = k8s.core.v1.ServiceAccount(
            f"{name}-migration",
            metadata={**metadata, "name": f"{name}-migration"},
            automount_service_account_token=False,
            opts=child,
        )
        steps = [tracking_migration, *([with_mounts(auth.migration_container, ca[1])] if auth else [])]
        if roles:
            steps.append(roles_container(tracking_migration, roles, auth=auth is not None))
        migration = migration_job(self, name, args, migration_account.metadata.name, steps,
                                  volumes=(*([auth.module_volume] if auth else []), *ca[0]))
        self.gc_selector = None
        if args.gc_schedule is not None:
            # The server's account (its access to the bucket: IRSA, or the keys in artifact_store_env), the
            # server's destination, the migrated schema.
            gc_cronjob(self, name, args.namespace, args.image, args.gc_schedule,
                       service_account=service_account.metadata.name,
                       env=concatenated([backend_env, {"name": DESTINATION_ENV, "value": args.artifacts_destination},
                                         *gc_env(args.gc_older_than, bool(args.auth and args.auth.teams)),
                                         *common_env], args.artifact_store_env),
                       mounts=ca[1], volumes=ca[0], pods=args.pods, resources=args.sizes.of("gc"))
            self.gc_selector = selector_labels("mlflow", name, "gc")
        # With the auth app /metrics needs a token: Prometheus scrapes a sidecar instead.
        metrics_sidecar = self._metrics_sidecar(args, auth) if auth and args.metrics else None
        self.metrics_port = METRICS_PORT if metrics_sidecar else None
        self.metrics_port_name = "metrics" if metrics_sidecar else "http"

        # Every pod that serves the API or runs jobs must read what another wrote, also after a restart.
        key_env = encryption_key_env(self, name, metadata)
        service = cluster_ip_service(name, metadata, selector,
                                     {"http": SERVER_PORT, **({"metrics": METRICS_PORT} if metrics_sidecar else {})}, self,
                                     args.service_type, dict(args.service_annotations))

        # No MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD here: in MLflow 3.17 only clients read it. The server
        # advertises multipart and presigned transfers on /server-info whenever its S3 store supports them.
        volume_mounts = [{"name": "tmp", "mountPath": "/tmp"}, *ca[1], *args.extra_volume_mounts]
        volumes = [empty_dir("tmp", args.tmp_size_limit), *ca[0], *args.extra_volumes]
        if args.metrics:
            volume_mounts.append({"name": "metrics", "mountPath": METRICS_DIR})
            volumes.append(empty_dir("metrics", "64Mi"))
        if auth:
            volume_mounts += auth.volume_mounts
            volumes += auth.volumes

        # The kubelet probes as `Host: <pod IP>:<port>`, which the allowed hosts admit through $(POD_IP).
        def http_probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
            return {
                "httpGet": {"path": path, "port": "http"},
                "periodSeconds": period,
                "timeoutSeconds": timeout,
                "failureThreshold": failures,
            }

        probes = {
            "startupProbe": http_probe(f"{args.static_prefix}/health", period=2, timeout=2, failures=90),
            "readinessProbe": http_probe(args.static_prefix + (AUTH_READINESS_PATH if auth else READINESS_PATH),
                                         period=10, timeout=5, failures=3),
            "livenessProbe": http_probe(f"{args.static_prefix}/health", period=20, timeout=5, failures=3),
        }

        def container_for(service_name: str, cluster_ip: pulumi.Output[str], job_execution: bool) -> dict[str, Any]:
            hosts = allowed_hosts_flag(service_name, args.namespace,
                                       (*args.extra_allowed_hosts, *job_runner_hosts(job_execution)), cluster_ip)
            env = concatenated([
                # Declared first: $(POD_IP) in the arguments expands from it.
                {"name": POD_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                backend_env,
                *key_env,
                *job_execution_env(job_execution),
                # MLflow's default truncates an over-long param or tag and answers 200; refusing it (400) is a choice.
                {"name": "MLFLOW_TRUNCATE_LONG_VALUES", "value": str(not args.reject_overlong_values).lower()},
                *pool_env,
                *common_env,
            ], args.artifact_store_env, auth.env if auth else [])
            return {
                "name": "mlflow",
                **image_fields(args.image),
                # Exec form, no shell: SIGTERM reaches mlflow, which forwards it to uvicorn.
                "command": ["mlflow"],
                # The jobs pod runs one uvicorn worker beside the job runner, as the connection budget counts it and
                # its resources were measured (JOBS_POD_WORKERS); serverWorkers is the API pods'.
                "args": server_args(args, hosts, JOBS_POD_WORKERS if job_execution else None),
                "env": env,
                **({"envFrom": list(args.env_from)} if args.env_from else {}),
                "ports": [{"name": "http", "containerPort": SERVER_PORT}],
                "resources": args.resources.to_kubernetes(),
                "securityContext": container_security_context(),
                **probes,
                # Let endpoints drop this pod before mlflow stops accepting connections.
                "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
                "volumeMounts": volume_mounts,
            }

        pod_template = args.pods.template(
            labels,
            annotations={**({"mlflow-platform/identity-config": auth.config_checksum} if auth else {}),
                         **(roles_annotation(roles) or {})} or None,
            spec={
                "serviceAccountName": service_account.metadata.name,
                "automountServiceAccountToken": False,
                "securityContext": pod_security_context(SERVER_UID),
                "terminationGracePeriodSeconds": 45,
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": key,
                        "whenUnsatisfiable": args.spread_when_unsatisfiable,
                        "labelSelector": {"matchLabels": selector},
                    }
                    for key in args.spread_topology_keys
                ],
                # Job execution is off in every API pod: jobs run in the jobs pod (jobs.py) or nowhere.
                "containers": [container_for(name, service.spec.cluster_ip, False),
                               *([metrics_sidecar] if metrics_sidecar else [])],
                "volumes": volumes,
            },
        )
        replicas_spec = {} if args.autoscaling else {"replicas": args.replicas}
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata={**metadata, "name": name, "annotations": scanner_skips({SECRETS_AS_ENV: MLFLOW_READS_ENV},
                                                                             (args.image,))},
            spec={
                **replicas_spec,
                "selector": {"matchLabels": selector},
                # Never drop below the desired count during a rollout.
                # sqlite: the one pod stops before its successor mounts the ReadWriteOnce volume.
                "strategy": {"type": "Recreate"} if args.database_volume_claim is not None
                else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": pod_template,
            },
            # A rollout replaces pods one at a time (maxSurge 1), each may pull the image and start.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[migration], custom_timeouts=await_timeout(
                MLFLOW_FULL_IMAGE_MEGABYTES, args.peak_replicas * probe_budget_seconds(probes))),
        )
        jobs_service = (jobs_workload(self, name, args.namespace, pod_template, container_for, SERVER_PORT,
                                      depends_on=[migration], resources=args.sizes.of("jobs")) if args.job_execution else None)
        self.jobs_selector = selector_labels("mlflow", name, "jobs") if jobs_service else None
        self.jobs_service_name = jobs_service.metadata.name if jobs_service else None

        # Also from one replica when autoscaling: the budget holds once the autoscaler has added pods.
        if args.replicas > 1 or args.autoscaling:
            one_at_a_time(name, metadata, selector, self, dict(args.disruption_budget))
        if args.autoscaling:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                name,
                metadata={**metadata, "name": name},
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment.metadata.name},
                    "minReplicas": args.replicas,
                    "maxReplicas": args.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": args.target_cpu_utilization},
                            },
                        }
                    ],
                },
                opts=child,
            )

        self.service_name = service.metadata.name
        self.service_account_name = service_account.metadata.name
        self.tracking_uri = pulumi.Output.format(
            "http://{0}.{1}.svc.cluster.local:{2}{3}", service.metadata.name, args.namespace, SERVER_PORT,
            args.static_prefix,
        )
        self.port = SERVER_PORT
        self.register_outputs(registered_outputs(self))

    @staticmethod
    def _metrics_sidecar(args: MlflowServerArgs, auth: AuthWiring) -> dict[str, Any]:
        """Serves the workers' metrics files on METRICS_PORT (the auth app answers 401 on /metrics)."""
        return {
            "name": "metrics",
            **image_fields(args.image),
            "command": ["python", f"{MODULE_DIR}/mlflow_platform_metrics.py"],
            "env": [{"name": "PROMETHEUS_MULTIPROC_DIR", "value": METRICS_DIR},
                    # The server in the same pod, as its liveness probe asks it (mlflow_platform_server_up).
                    {"name": "SERVER_HEALTH_URL", "value": f"http://localhost:{SERVER_PORT}{args.static_prefix}/health"},
                    {"name": "METRICS_PORT", "value": str(METRICS_PORT)},
                    {"name": "PYTHONUNBUFFERED", "value": "1"}],
            "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
            "resources": args.sizes.of("metricsSidecar"),
            "securityContext": container_security_context(),
            "readinessProbe": {"httpGet": {"path": "/", "port": "metrics"}, "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": "/", "port": "metrics"}, "periodSeconds": 20, "timeoutSeconds": 5},
            "volumeMounts": [{"name": "metrics", "mountPath": METRICS_DIR, "readOnly": True}, auth.module_mount],
        }

