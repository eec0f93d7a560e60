"""The MLflow tracking server: a one-shot migration Job, then a hardened Deployment behind a Service."""

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.connection_budget import pool_problem
from components.env import secret_env
from components.hardening import container_security_context, empty_dir, pod_security_context
from components.labels import selector_labels, standard_labels
from components.resources import ResourceSpec
from components.timeouts import MLFLOW_FULL_IMAGE_MEGABYTES, await_timeout, job_timeout, probe_budget_seconds
from components.validation import dns_label_problem, image_problem, quantity_problem, refuse
from components.versions import MLFLOW_IMAGE

SERVER_PORT = 5000
SERVER_UID = 10001
MIGRATION_DEADLINE_SECONDS = 1800
METRICS_DIR = "/var/run/mlflow/metrics"
BACKEND_URI_ENV = "MLFLOW_BACKEND_STORE_URI"
# The pod's own IP, from the downward API: Prometheus scrapes each pod as `Host: <pod IP>:<port>`.
POD_IP_ENV = "POD_IP"
# Readiness must prove the API and the database answer; /health is static and never touches the DB.
READINESS_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


@dataclass(frozen=True)
class MlflowServerArgs:
    namespace: str
    backend_uri_secret_name: pulumi.Input[str]
    """Secret holding the SQLAlchemy URI (never passed as a literal)."""
    artifacts_destination: pulumi.Input[str]
    """Where the artifact proxy writes, e.g. s3://mlflow-artifacts/."""
    backend_uri_secret_key: str = "uri"
    artifact_store_env: list[dict[str, Any]] = field(default_factory=list)
    """Environment the artifact store needs (endpoint, credential Secret references)."""
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """E.g. the IRSA role (eks.amazonaws.com/role-arn) the artifact store grants."""
    image: str = MLFLOW_IMAGE
    replicas: int = 1
    workers: int = 1
    """uvicorn workers per pod. One: with more, uvicorn leaves Nagle's algorithm on (uvicorn#3149), ~40 ms a request."""
    job_execution: bool = False
    """MLflow's job runner adds 7 Huey consumers (~1.5 GB) per pod; off unless needed."""
    pool_size: int = 5
    """Connections each engine keeps open; bursts open up to max_overflow more and close them after use."""
    max_overflow: int = 36
    pool_recycle_seconds: int = 300
    resources: ResourceSpec = field(
        default_factory=lambda: ResourceSpec(cpu_request="500m", memory_request="1Gi", cpu_limit="2", memory_limit="2Gi")
    )
    tmp_size_limit: str = "4Gi"
    """The artifact proxy buffers each upload in /tmp: at least the largest artifact accepted."""
    autoscaling: bool = False
    max_replicas: int = 4
    target_cpu_utilization: int = 75
    metrics: bool = True
    """Serve Prometheus metrics on /metrics (--expose-prometheus)."""
    extra_allowed_hosts: tuple[str, ...] = ()
    """Host headers to accept beyond localhost and the Service names (e.g. an ingress host)."""
    cors_allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        refuse(
            "MlflowServerArgs",
            dns_label_problem(self.namespace),
            image_problem(self.image),
            None if self.replicas >= 1 else "replicas must be at least 1",
            None if 1 <= self.workers <= 32 else "workers must be between 1 and 32",
            None if self.pool_size >= 1 else "pool_size must be at least 1",
            # MLflow ignores 0 (a falsy check) and SQLAlchemy then allows 10 extra connections.
            None if self.max_overflow >= 1 else "max_overflow must be at least 1 (MLflow treats 0 as unset)",
            pool_problem(self.pool_size, self.max_overflow),
            None if self.pool_recycle_seconds >= 1 else "pool_recycle_seconds must be at least 1",
            None if not self.autoscaling or self.max_replicas >= self.replicas else "max_replicas is below replicas",
            None if 1 <= self.target_cpu_utilization <= 100 else "target_cpu_utilization must be 1-100",
            quantity_problem(self.tmp_size_limit),
        )

    @property
    def peak_replicas(self) -> int:
        return self.max_replicas if self.autoscaling else self.replicas


def allowed_hosts(service: str, namespace: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Host headers the server accepts: --allowed-hosts replaces MLflow's defaults, so list all.

    Names: localhost, every form of the Service's DNS name, and `extra` (e.g. the ingress host).
    Addresses: the pod's own IP (Prometheus, anything that dials the pod) via $(POD_IP), which the
    kubelet expands from the downward API. The ClusterIP is added by `with_address`.
    """
    names = ["localhost", "127.0.0.1", service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
             f"{service}.{namespace}.svc.cluster.local", *extra]
    return [host for name in names for host in (name, f"{name}:*")] + address_patterns(f"$({POD_IP_ENV})")


def address_patterns(address: str) -> list[str]:
    """fnmatch patterns MLflow matches a Host header of this IP against, with or without a port.

    An IPv6 Host header is bracketed (`[fd00::1]:5000`), and `[` opens a character class in fnmatch,
    so it is escaped as `[[]`. A literal IPv4 address needs no IPv6 form; $(POD_IP) may be either.
    """
    ipv4 = [address, f"{address}:*"]
    ipv6 = [f"[[]{address}]", f"[[]{address}]:*"]
    if address.startswith("$("):
        return ipv4 + ipv6
    return ipv6 if ":" in address else ipv4


def with_address(hosts: list[str], cluster_ip: pulumi.Input[str]) -> pulumi.Output[str]:
    """The --allowed-hosts value: `hosts` plus the Service's ClusterIP, for $<SERVICE>_SERVICE_HOST clients."""
    return pulumi.Output.from_input(cluster_ip).apply(
        lambda ip: ",".join(hosts + (address_patterns(ip) if ip and ip != "None" else [])))


def server_args(args: MlflowServerArgs, hosts: pulumi.Input[str]) -> list[pulumi.Input[str]]:
    """The `mlflow server` arguments; secrets stay out (they arrive as environment variables)."""
    command: list[pulumi.Input[str]] = [
        "server",
        "--host", "0.0.0.0",
        "--port", str(SERVER_PORT),
        "--workers", str(args.workers),
        "--serve-artifacts",
        "--artifacts-destination", args.artifacts_destination,
        "--allowed-hosts", hosts,
    ]
    if args.cors_allowed_origins:
        command += ["--cors-allowed-origins", ",".join(args.cors_allowed_origins)]
    if args.metrics:
        command += ["--expose-prometheus", METRICS_DIR]
    return command


class MlflowServer(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    tracking_uri: pulumi.Output[str]
    service_account_name: pulumi.Output[str]
    selector: dict[str, str]
    """Labels of the server pods."""
    migration_selector: dict[str, str]

    def __init__(self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlflow-platform:index:MlflowServer", name, None, opts)
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
        ]

        service_account = k8s.core.v1.ServiceAccount(
            name,
            metadata={**metadata, "name": name, "annotations": args.service_account_annotations},
            # IRSA mounts its own projected token; the API token is never needed.
            automount_service_account_token=False,
            opts=child,
        )

        migration_labels = standard_labels("mlflow", name, "migration")
        self.selector = selector
        self.migration_selector = selector_labels("mlflow", name, "migration")
        migration = k8s.batch.v1.Job(
            f"{name}-migrate",
            # No fixed name: a new image replaces the Job, so the schema upgrade runs before the rollout.
            metadata={"namespace": args.namespace, "labels": migration_labels},
            spec={
                "backoffLimit": 10,
                "activeDeadlineSeconds": MIGRATION_DEADLINE_SECONDS,
                "template": {
                    "metadata": {"labels": migration_labels},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "serviceAccountName": service_account.metadata.name,
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security_context(SERVER_UID),
                        "containers": [
                            {
                                "name": "migrate",
                                "image": args.image,
                                # Kubernetes expands $(VAR) from the env below: the URI never appears in the spec.
                                "command": ["mlflow", "db", "upgrade", f"$({BACKEND_URI_ENV})"],
                                "env": [backend_env, *common_env],
                                "resources": ResourceSpec("100m", "256Mi", "1", "1Gi").to_kubernetes(),
                                "securityContext": container_security_context(),
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [empty_dir("tmp", "256Mi")],
                    },
                },
            },
            # The first `up` pulls the -full image here; upgrades of a large database take minutes.
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=job_timeout(MIGRATION_DEADLINE_SECONDS)),
        )

        service = k8s.core.v1.Service(
            name,
            metadata={**metadata, "name": name},
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": SERVER_PORT, "targetPort": "http"}],
            },
            opts=child,
        )

        hosts = with_address(allowed_hosts(name, args.namespace, args.extra_allowed_hosts), service.spec.cluster_ip)
        env = [
            # Declared first: $(POD_IP) in the arguments expands from it.
            {"name": POD_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            backend_env,
            {"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "value": str(args.job_execution).lower()},
            # MLflow 3 truncates over-long values and answers 200; refuse them (400) instead of losing data quietly.
            {"name": "MLFLOW_TRUNCATE_LONG_VALUES", "value": "false"},
            *pool_env,
            *common_env,
            *args.artifact_store_env,
        ]
        # No MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD here: in MLflow 3.17 only clients read it. The server
        # advertises multipart and presigned transfers on /server-info whenever its S3 store supports them.
        volume_mounts = [{"name": "tmp", "mountPath": "/tmp"}]
        volumes = [empty_dir("tmp", args.tmp_size_limit)]
        if args.metrics:
            volume_mounts.append({"name": "metrics", "mountPath": METRICS_DIR})
            volumes.append(empty_dir("metrics", "64Mi"))

        # The kubelet probes as `Host: <pod IP>:<port>`, which the allowed hosts admit through $(POD_IP).
        def http_probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
            return {
                "httpGet": {"path": path, "port": "http"},
                "periodSeconds": period,
                "timeoutSeconds": timeout,
                "failureThreshold": failures,
            }

        probes = {
            "startupProbe": http_probe("/health", period=2, timeout=2, failures=90),
            "readinessProbe": http_probe(READINESS_PATH, period=10, timeout=5, failures=3),
            "livenessProbe": http_probe("/health", period=20, timeout=5, failures=3),
        }
        replicas_spec = {} if args.autoscaling else {"replicas": args.replicas}
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata={**metadata, "name": name},
            spec={
                **replicas_spec,
                "selector": {"matchLabels": selector},
                # Never drop below the desired count during a rollout.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": service_account.metadata.name,
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security_context(SERVER_UID),
                        "terminationGracePeriodSeconds": 45,
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": "kubernetes.io/hostname",
                                "whenUnsatisfiable": "ScheduleAnyway",
                                "labelSelector": {"matchLabels": selector},
                            }
                        ],
                        "containers": [
                            {
                                "name": "mlflow",
                                "image": args.image,
                                # Exec form, no shell: SIGTERM reaches mlflow, which forwards it to uvicorn.
                                "command": ["mlflow"],
                                "args": server_args(args, hosts),
                                "env": env,
                                "ports": [{"name": "http", "containerPort": SERVER_PORT}],
                                "resources": args.resources.to_kubernetes(),
                                "securityContext": container_security_context(),
                                **probes,
                                # Let endpoints drop this pod before mlflow stops accepting connections.
                                "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
                                "volumeMounts": volume_mounts,
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
            # A rollout replaces pods one at a time (maxSurge 1), each may pull the image and start.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[migration], custom_timeouts=await_timeout(
                MLFLOW_FULL_IMAGE_MEGABYTES, args.peak_replicas * probe_budget_seconds(probes))),
        )

        if args.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata={**metadata, "name": name},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
                opts=child,
            )
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
            "http://{0}.{1}.svc.cluster.local:{2}", service.metadata.name, args.namespace, SERVER_PORT
        )
        self.register_outputs({
            "serviceName": self.service_name,
            "serviceAccountName": self.service_account_name,
            "trackingUri": self.tracking_uri,
        })
