"""The Ingress front door, for clusters that run an Ingress controller."""

from typing import Any

import pulumi

from mlflow_platform.ingress_sso.args import IngressSsoArgs
from mlflow_platform.ingress_sso.gateway import Routes


def ingress_spec(args: IngressSsoArgs, tls_secret: pulumi.Input[str], service: pulumi.Input[str], port: int,
                 routes: Routes) -> dict[str, Any]:
    """Every path of the host to `service`, the job routes to the jobs Service (the longest prefix wins)."""
    spec: dict[str, Any] = {
        **({"ingressClassName": args.ingress_class} if args.ingress_class else {}),
        "rules": [{"host": args.host, "http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": backend, "port": {"number": port}}},
        } for path, backend in [(args.path_prefix or "/", service), *routes]]}}],
    }
    if args.tls:
        spec["tls"] = [{"hosts": [args.host], "secretName": tls_secret}]
    return spec

