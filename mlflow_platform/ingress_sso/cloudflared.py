"""Cloudflare Access as the front door: cloudflared connects out to Cloudflare, and nothing in the cluster is public.

Cloudflare Access signs people in (and service tokens for programs) at Cloudflare's edge, then the
tunnel carries the request to the MLflow Service with a `Cf-Access-Jwt-Assertion` JWT that MLflow's
auth app verifies against the team's certificates and the application's AUD tag. The tunnel token is
read from a file of the Secret (`tunnel run --token-file`, env TUNNEL_TOKEN_FILE, cloudflared 2025.4.0+:
Cloudflare's "tunnel run parameters" page, cloudflare-docs#21697), never from arguments or the environment;
the tunnel's public hostname and its service (http://<server>.<ns>.svc.cluster.local:5000)
are configured at Cloudflare.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.ingress_sso.args import CloudflareTunnel, IngressSsoArgs
from mlflow_platform.kube.disruption import one_at_a_time
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context, secret_files
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.kube.scanner import scanner_skips
from mlflow_platform.kube.timeouts import CLOUDFLARED_IMAGE_MEGABYTES, await_timeout, probe_budget_seconds
from mlflow_platform.versions import CLOUDFLARED_UID

METRICS_PORT = 2000
TOKEN_DIR = "/etc/cloudflared/token"


def cloudflared(parent: pulumi.Resource, name: str, args: IngressSsoArgs, tunnel: CloudflareTunnel) -> dict[str, str]:
    """The tunnel's connectors, their token Secret and PDB; returns the connectors' pod selector."""
    child = pulumi.ResourceOptions(parent=parent)
    connector = f"{name}-cloudflared"
    labels = standard_labels("cloudflared", connector, "tunnel")
    selector = selector_labels("cloudflared", connector, "tunnel")
    metadata = {"namespace": args.namespace, "labels": labels}
    secret = k8s.core.v1.Secret(
        connector,
        metadata={**metadata, "name": connector},
        type="Opaque",
        string_data={"tunnel-token": pulumi.Output.secret(tunnel.tunnel_token)},
        opts=child,
    )
    # /ready answers 200 once the connector holds a connection to Cloudflare's edge (metrics/readiness.go).
    probes: dict[str, Any] = {
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "metrics"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/ready", "port": "metrics"}, "periodSeconds": 20, "failureThreshold": 6},
    }
    k8s.apps.v1.Deployment(
        connector,
        metadata={**metadata, "name": connector, "annotations": scanner_skips({}, (tunnel.image,))},
        spec={
            "replicas": tunnel.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": args.pods.metadata(labels),
                "spec": {
                    **args.pods.spec(),
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(CLOUDFLARED_UID),
                    "containers": [{
                        "name": "cloudflared",
                        **image_fields(tunnel.image),
                        "args": ["tunnel", "--no-autoupdate", "--metrics", f"0.0.0.0:{METRICS_PORT}", "run"],
                        # The token as a file, not an environment variable (see the module's docstring).
                        "env": [{"name": "TUNNEL_TOKEN_FILE", "value": f"{TOKEN_DIR}/tunnel-token"}],
                        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
                        "resources": args.sizes.of("cloudflared"),
                        "securityContext": container_security_context(),
                        **probes,
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                                         {"name": "token", "mountPath": TOKEN_DIR, "readOnly": True}],
                    }],
                    "volumes": [empty_dir("tmp", "16Mi"), secret_files("token", secret.metadata.name)],
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, custom_timeouts=await_timeout(
            CLOUDFLARED_IMAGE_MEGABYTES, probe_budget_seconds(probes))),
    )
    # Both replicas are never drained at once: without them nobody reaches MLflow.
    one_at_a_time(connector, metadata, selector, parent)
    return selector
