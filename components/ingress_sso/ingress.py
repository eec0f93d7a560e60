"""The Ingress spec both Ingresses of the front door share (MLflow at /, oauth2-proxy at /oauth2)."""

from typing import Any

import pulumi

from components.ingress_sso.args import IngressSsoArgs


def ingress_spec(args: IngressSsoArgs, tls_secret: str, path: str, service: pulumi.Input[str], port: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ingressClassName": args.ingress_class,
        "rules": [{"host": args.host, "http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": port}}},
        }]}}],
    }
    if args.tls:
        spec["tls"] = [{"hosts": [args.host], "secretName": tls_secret}]
    return spec
