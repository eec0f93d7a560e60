"""What pulumi-kubernetes waits for before `pulumi up` moves on, per kind, as its await code does.

Read in pulumi/pulumi-kubernetes provider/pkg/await/ (commit 94977969, 2026-07; the 4.34.2 SDK the
program pins matches it where compared): awaiters.go maps apiVersion/kind to an await function;
kinds that are not in the map are ready as soon as the API server accepts them.
"""

from dataclasses import dataclass

PROVIDER_DEFAULT_MINUTES = 10


@dataclass(frozen=True)
class Await:
    waits_for: str
    """The condition `pulumi up` waits on."""
    source: str
    default_minutes: int | None = PROVIDER_DEFAULT_MINUTES
    """None: nothing to wait for (ready once accepted)."""
    honours_custom_timeouts: bool = True


IMMEDIATE = Await("nothing: ready once the API server accepts it", "awaiters.go (not mapped, or mapped to NONE)", None)

AWAIT: dict[str, Await] = {
    "kubernetes:networking.k8s.io/v1:Ingress": Await(
        "status.loadBalancer.ingress has an entry, which only an ingress controller writes; Endpoints objects "
        "for each backend Service (existence only, a missing one is a warning)",
        "ingress.go (ingressInitAwaiter.await, checkIfEndpointsReady)"),
    "kubernetes:core/v1:Service": Await(
        "ClusterIP with a selector: no NotReadyAddresses among its endpoints (zero endpoints is fine); "
        "LoadBalancer: also status.loadBalancer.ingress",
        "service.go (checkAndLogStatus, shouldWaitForPods; PR #3142)"),
    "kubernetes:apps/v1:Deployment": Await(
        "the new ReplicaSet observed and Available=True (Progressing/NewReplicaSetAvailable after the first "
        "generation), and every PVC the pods mount ready",
        "deployment.go"),
    "kubernetes:apps/v1:StatefulSet": Await(
        "replicas, currentReplicas and readyReplicas equal spec.replicas and updateRevision == currentRevision",
        "statefulset.go"),
    "kubernetes:batch/v1:Job": Await(
        "startTime and Complete=True; Failed=True ends the wait with an error",
        "job.go (jobInitAwaiter.Await, processJobEvent)"),
    "kubernetes:core/v1:PersistentVolumeClaim": Await(
        "Bound, except under a StorageClass with volumeBindingMode WaitForFirstConsumer, where Pending is ready "
        "(4.16.0 #3130 on create, 4.27.0 #4181 on update); if the class cannot be looked up (no default class, "
        "storageClassName \"\") it waits for Bound",
        "awaiters.go (untilCoreV1PersistentVolumeClaimReady, pvcReady, pvcBindMode)",
        default_minutes=5, honours_custom_timeouts=False),
    "kubernetes:core/v1:Secret": IMMEDIATE,
    "kubernetes:core/v1:ConfigMap": IMMEDIATE,
    "kubernetes:core/v1:Namespace": IMMEDIATE,
    "kubernetes:core/v1:ServiceAccount": IMMEDIATE,  # waits for a token Secret only before Kubernetes 1.24
    "kubernetes:batch/v1:CronJob": IMMEDIATE,
    "kubernetes:policy/v1:PodDisruptionBudget": IMMEDIATE,
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": IMMEDIATE,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": IMMEDIATE,
    # Custom resources: immediate, but created only once their CRD exists (5 retries on NoMatch).
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": IMMEDIATE,
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": IMMEDIATE,
    # Gateway API: no awaiter (`git grep -i httproute provider/pkg/await` finds nothing).
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": IMMEDIATE,
}

# Awaited kinds whose readiness takes real work on a new cluster (an image pull, a start, a run).
WORKLOAD_KINDS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job")

# The ingress controllers a Quick start may install, with what their manifest declares.
# ingress-nginx controller-v1.15.1 deploy/static/provider/kind/deploy.yaml: the controller runs with
# --ingress-class=nginx, --watch-ingress-without-class=true and --publish-status-address=localhost
# (internal/ingress/status/status.go, runningAddresses: the published address becomes
# status.loadBalancer.ingress[].hostname), and listens on hostPorts 80 and 443.
KIND_INGRESS_NGINX = (
    "https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.15.1/deploy/static/provider/kind/deploy.yaml"
)


@dataclass(frozen=True)
class IngressController:
    ingress_class: str
    publishes_status: bool
    host_ports: tuple[int, ...]


KNOWN_CONTROLLER_MANIFESTS = {KIND_INGRESS_NGINX: IngressController("nginx", True, (80, 443))}
SKIP_AWAIT = "pulumi.com/skipAwait"
"""Only the exact value "true" skips the await (metadata/overrides.go, SkipAwaitLogic)."""
