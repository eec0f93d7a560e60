"""The route into the cluster: an Ingress, or a Gateway API HTTPRoute attached to a Gateway."""

from typing import Any

import pulumi

from mlflow_platform.ingress_sso.args import GatewayRef, IngressSsoArgs

Routes = list[tuple[str, pulumi.Input[str]]]
"""(path prefix, Service) pairs besides "/": the requests that submit jobs, to the jobs Service."""


def ingress_spec(args: IngressSsoArgs, tls_secret: pulumi.Input[str], service: pulumi.Input[str], port: int,
                 routes: Routes) -> dict[str, Any]:
    """Every path of the host to `service`, the job routes to the jobs Service (the longest prefix wins)."""
    spec: dict[str, Any] = {
        "ingressClassName": args.ingress_class,
        "rules": [{"host": args.host, "http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": backend, "port": {"number": port}}},
        } for path, backend in [(args.path_prefix or "/", service), *routes]]}}],
    }
    if args.tls:
        spec["tls"] = [{"hosts": [args.host], "secretName": tls_secret}]
    return spec


def http_route_spec(args: IngressSsoArgs, gateway: GatewayRef, service: pulumi.Input[str], port: int,
                    routes: Routes) -> dict[str, Any]:
    """gateway.networking.k8s.io/v1 HTTPRoute (Gateway API v1.6 standard channel): every path of the host to
    `service`. A route in another namespace than its Gateway needs no ReferenceGrant; the Gateway's
    listener must admit it (allowedRoutes.namespaces)."""
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
            # Large artifacts stream through: the request timeout (standard since v1.2, Extended support).
            "timeouts": {"request": f"{args.timeout_seconds}s"},
        } for paths, backend in rules],
    }
