"""The Gateway API front door: an HTTPRoute on a Gateway (the component's own, or one someone else runs), and what
its implementation needs for artifacts: large bodies, long transfers, health checks it can pass.

Gateway API v1.5.1 (standard channel) is the minimum: NGINX Gateway Fabric 2.6 is built for it, the AWS Load Balancer
Controller 3.5 for v1.6 (tests/test_custom_resource_schemas.py checks every object against both).
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.ingress_sso.args import GatewayRef, IngressSsoArgs

GATEWAY_API = "gateway.networking.k8s.io"
Routes = list[tuple[str, pulumi.Input[str]]]
"""(path prefix, Service) pairs besides "/": the requests that submit jobs, to the jobs Service."""
WAIT_FOR = "pulumi.com/waitFor"
"""pulumi-kubernetes waits for nothing on a custom resource unless this annotation names a condition
(provider/pkg/metadata/overrides.go, ReadyCondition); "condition=X" reads .status.conditions
(provider/pkg/await/condition/custom.go)."""
ALB_IDLE_TIMEOUT_MAX = 4000
"""idle_timeout.timeout_seconds: 1-4000 (Elastic Load Balancing, LoadBalancerAttribute)."""


def declare_gateway_route(parent: pulumi.Resource, name: str, args: IngressSsoArgs, gateway: GatewayRef,
                          backends: list[tuple[pulumi.Input[str], str]], port: int, routes: Routes,
                          labels: dict[str, str]) -> None:
    """The route, and with it the Gateway the component owns and its implementation's own settings.

    `backends` are the Services behind the route with the path their load balancer health checks (the ALB checks
    each target itself; the kubelet's probes are not the ALB's)."""
    child = pulumi.ResourceOptions(parent=parent)
    gateway_namespace = gateway.namespace or args.namespace
    if gateway.declared:
        _gateway(name, args, gateway, gateway_namespace, labels, child)
    k8s.apiextensions.CustomResource(
        name,
        api_version=f"{GATEWAY_API}/v1",
        kind="HTTPRoute",
        metadata={"name": name, "namespace": args.namespace, "labels": labels},
        spec=http_route_spec(args, gateway, backends[0][0], port, routes),
        opts=child,
    )
    if gateway.controller == "nginx-gateway-fabric":
        _nginx_gateway_fabric_policies(name, args, labels, child)
    if gateway.controller == "aws-alb":
        for index, (service, health_path) in enumerate(backends):
            k8s.apiextensions.CustomResource(
                f"{name}-targets" + (f"-{index}" if index else ""),
                api_version="gateway.k8s.aws/v1",
                kind="TargetGroupConfiguration",
                metadata={"namespace": args.namespace, "labels": labels},
                spec=target_group_spec(service, health_path),
                opts=child,
            )


def http_route_spec(args: IngressSsoArgs, gateway: GatewayRef, service: pulumi.Input[str], port: int,
                    routes: Routes) -> dict[str, Any]:
    """Every path of the host to `service`, the job routes to the jobs Service. A route in another namespace than
    its Gateway needs no ReferenceGrant; the Gateway's listener must admit it (allowedRoutes.namespaces)."""
    parent: dict[str, Any] = {"name": gateway.name}
    if gateway.namespace:
        parent["namespace"] = gateway.namespace
    if gateway.section_name:
        parent["sectionName"] = gateway.section_name
    # The longest matching path prefix wins (HTTPRoute spec, "Rule precedence").
    rules = [([args.path_prefix or "/"], service)] + ([([path for path, _ in routes], routes[0][1])] if routes else [])
    return {
        "parentRefs": [parent],
        "hostnames": [args.host],
        "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": path}} for path in paths],
            "backendRefs": [{"name": backend, "port": port}],
            # Large artifacts stream through: the request timeout (standard since v1.2, Extended support). NGINX
            # Gateway Fabric 2.6 ignores it with a warning (internal/controller/state/graph/httproute.go,
            # checkForUnsupportedHTTPFields) and the ALB has none (docs/guide/gateway/l7gateway.md, "HTTPRoute"):
            # their own settings carry the timeout instead.
            **({"timeouts": {"request": f"{args.timeout_seconds}s"}} if gateway.controller == "other" else {}),
        } for paths, backend in rules],
    }


def _gateway(name: str, args: IngressSsoArgs, gateway: GatewayRef, namespace: pulumi.Input[str],
             labels: dict[str, str], child: pulumi.ResourceOptions) -> None:
    """One listener for the host: HTTPS on 443 when the front door has TLS, else HTTP on 80. It admits routes from
    the platform's namespace only."""
    annotations: dict[str, str] = {WAIT_FOR: "condition=Programmed"}
    listener: dict[str, Any] = {"name": "http", "protocol": "HTTP", "port": 80, "hostname": args.host}
    if args.tls:
        listener = {**listener, "name": "https", "protocol": "HTTPS", "port": 443}
        if not gateway.alb:
            # The ALB takes its certificate from ACM (LoadBalancerConfiguration, or discovery by host name), never
            # from certificateRefs (docs/guide/gateway/gateway.md, "Certificate Discovery for secure listeners").
            listener["tls"] = {"mode": "Terminate",
                               "certificateRefs": [{"kind": "Secret", "name": args.tls_secret or f"{name}-tls"}]}
            if args.tls_cluster_issuer:
                annotations["cert-manager.io/cluster-issuer"] = args.tls_cluster_issuer
    listener["allowedRoutes"] = {"namespaces": {
        "from": "Selector",
        "selector": {"matchLabels": {"kubernetes.io/metadata.name": args.namespace}},
    }}
    spec: dict[str, Any] = {"gatewayClassName": gateway.class_name, "listeners": [listener]}
    if gateway.alb:
        k8s.apiextensions.CustomResource(
            f"{name}-load-balancer",
            api_version="gateway.k8s.aws/v1",
            kind="LoadBalancerConfiguration",
            metadata={"name": gateway.name, "namespace": namespace, "labels": labels},
            spec=load_balancer_spec(args, gateway),
            opts=child,
        )
        spec["infrastructure"] = {"parametersRef": {
            "group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration", "name": gateway.name}}
    k8s.apiextensions.CustomResource(
        f"{name}-gateway",
        api_version=f"{GATEWAY_API}/v1",
        kind="Gateway",
        metadata={"name": gateway.name, "namespace": namespace, "labels": labels, "annotations": annotations},
        spec=spec,
        opts=child,
    )


def load_balancer_spec(args: IngressSsoArgs, gateway: GatewayRef) -> dict[str, Any]:
    """The ALB (docs/guide/gateway/loadbalancerconfig.md): its scheme and subnets, the HTTPS listener's certificate,
    and an idle timeout as long as the longest transfer (the ALB's default is 60 s)."""
    alb = gateway.alb
    assert alb is not None
    spec: dict[str, Any] = {
        "scheme": alb.scheme,
        "loadBalancerAttributes": [{"key": "idle_timeout.timeout_seconds",
                                    "value": str(min(args.timeout_seconds, ALB_IDLE_TIMEOUT_MAX))}],
    }
    if alb.subnet_ids:
        spec["loadBalancerSubnets"] = [{"identifier": subnet} for subnet in alb.subnet_ids]
    if alb.https and alb.certificate_arn:
        spec["listenerConfigurations"] = [{"protocolPort": "HTTPS:443", "defaultCertificate": alb.certificate_arn}]
    return spec


def target_group_spec(service: pulumi.Input[str], health_path: str) -> dict[str, Any]:
    """The ALB sends to the pods themselves (ip targets, not node ports: the NetworkPolicies admit the VPC on the
    pods' port) and checks each on a path that answers without a session or an allowed Host: the ALB's health checks
    carry an address as Host, never the host name (tests/runtime/test_front_door_requests.py)."""
    return {
        "targetReference": {"name": service},
        "defaultConfiguration": {
            "targetType": "ip",
            "healthCheckConfig": {"healthCheckPath": health_path, "healthCheckProtocol": "HTTP",
                                  "healthCheckPort": "traffic-port"},
        },
    }


NGINX_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def nginx_size(size: str) -> str:
    """An nginx size (e.g. 20480m) as NGINX Gateway Fabric's Size takes it: at most 4 digits and a unit
    (apis/v1alpha1/shared_types.go, ^\\d{1,4}(k|m|g)?$), rounded down: never more than asked."""
    unit = size[-1].lower() if size[-1].isalpha() else ""
    size_bytes = int(size.removesuffix(size[-1]) if unit else size) * NGINX_UNITS[unit]
    return next(f"{size_bytes // factor}{suffix}" for suffix, factor in NGINX_UNITS.items()
                if size_bytes // factor <= 9999 or suffix == "g")


def nginx_duration(seconds: int) -> str:
    """NGINX Gateway Fabric's Duration: at most 4 digits and a unit (shared_types.go, ^[0-9]{1,4}(ms|s|m|h)?$)."""
    return f"{seconds}s" if seconds <= 9999 else f"{seconds // 60}m"


def _nginx_gateway_fabric_policies(name: str, args: IngressSsoArgs, labels: dict[str, str],
                                   child: pulumi.ResourceOptions) -> None:
    """nginx's defaults would refuse an artifact over 1 MB (client_max_body_size) and cut a transfer idle for 60 s;
    NGINX Gateway Fabric sets both per route through its policies (apis/v1alpha1/clientsettingspolicy_types.go,
    proxysettingspolicy_types.go)."""
    target = {"group": GATEWAY_API, "kind": "HTTPRoute", "name": name}
    timeout = nginx_duration(args.timeout_seconds)
    k8s.apiextensions.CustomResource(
        f"{name}-client-settings",
        api_version="gateway.nginx.org/v1alpha1",
        kind="ClientSettingsPolicy",
        metadata={"namespace": args.namespace, "labels": labels},
        spec={"targetRef": target,
              "body": {"maxSize": nginx_size(args.max_body_size), "timeout": timeout}},
        opts=child,
    )
    k8s.apiextensions.CustomResource(
        f"{name}-proxy-settings",
        api_version="gateway.nginx.org/v1alpha1",
        kind="ProxySettingsPolicy",
        metadata={"namespace": args.namespace, "labels": labels},
        # Responses (artifact downloads) stream instead of filling the proxy's disk.
        spec={"targetRefs": [target], "buffering": {"disable": True}, "timeout": {"read": timeout, "send": timeout}},
        opts=child,
    )
