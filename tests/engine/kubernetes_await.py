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
CUSTOM_RESOURCE = Await(
    "nothing, unless the pulumi.com/waitFor annotation names what to wait for: \"condition=Type[=Status]\" (a "
    "condition in .status.conditions, status True by default), \"jsonpath=...\" or a JSON list of them; with "
    "PULUMI_K8S_AWAIT_ALL=true (off by default) a generic Ready heuristic. 10 minutes, or pulumi.com/timeoutSeconds",
    "metadata/overrides.go (ReadyCondition), await/condition/custom.go (NewCustom, checkCondition), await.go "
    "(timeout := 10 * time.Minute)", None)
WAIT_FOR = "pulumi.com/waitFor"


def wait_for_condition(annotation: str) -> tuple[str, str]:
    """The (type, status) a "condition=" expression waits for, parsed as custom.go's NewCustom does."""
    expression = annotation.removeprefix("condition=")
    kind, _, status = expression.partition("=")
    return kind, status or "True"

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
    # Custom resources of the front door (Gateway API, NGINX Gateway Fabric, the AWS Load Balancer Controller): no
    # awaiter (`git grep -i -e httproute -e gateway provider/pkg/await` finds none), so ReadyCondition decides.
    **{f"kubernetes:{kind}": CUSTOM_RESOURCE for kind in (
        "gateway.networking.k8s.io/v1:Gateway", "gateway.networking.k8s.io/v1:HTTPRoute",
        "gateway.nginx.org/v1alpha1:ClientSettingsPolicy", "gateway.nginx.org/v1alpha1:ProxySettingsPolicy",
        "gateway.k8s.aws/v1:LoadBalancerConfiguration", "gateway.k8s.aws/v1:TargetGroupConfiguration")},
}

# Awaited kinds whose readiness takes real work on a new cluster (an image pull, a start, a run).
WORKLOAD_KINDS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job")

# The Gateway implementations `make dev` may install (dev/manifests.lock), with what their manifest declares.
# NGINX Gateway Fabric v2.6.7 deploy/nodeport/deploy.yaml: GatewayClass "nginx" (controllerName
# gateway.nginx.org/nginx-gateway-controller), whose NginxProxy makes each Gateway's data plane a NodePort Service
# in the Gateway's namespace; the controller sets the Gateway's Programmed condition once its nginx is configured
# (internal/controller/state/conditions/conditions.go, GatewayConditionProgrammed). The AWS Load Balancer Controller
# v3.5.0 sets it True once the ALB is active, Unknown while it provisions (controllers/gateway/gateway_controller.go,
# updateGatewayStatusSuccess); its GatewayClass is the cluster admin's (docs/front-doors.md).
NGF_NODEPORT = "https://raw.githubusercontent.com/nginx/nginx-gateway-fabric/"


@dataclass(frozen=True)
class GatewayImplementation:
    gateway_class: str
    controller_name: str
    sets_programmed: bool


KNOWN_GATEWAY_MANIFESTS = {NGF_NODEPORT: GatewayImplementation("nginx", "gateway.nginx.org/nginx-gateway-controller",
                                                               True)}
ALB_GATEWAY = GatewayImplementation("alb", "gateway.k8s.aws/alb", True)
