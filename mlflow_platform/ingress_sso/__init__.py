"""The front door: an Ingress with TLS, and oauth2-proxy (OIDC) in front of MLflow as its reverse proxy.

With SSO the Ingress routes every path to oauth2-proxy, which signs people in (/oauth2/*), lets
programs' bearer JWTs through, and proxies to the MLflow Service with the verified token as
`Authorization: Bearer`. Authentication does not depend on one controller's annotations: any
Ingress class works, and the server admits no one else on its port (NetworkPolicies).
"""


from typing import overload

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.conversion import args_of
from mlflow_platform.ingress_sso.args import (
    NGINX,
    OAUTH2_PROXY_PORT,
    AlbSettings,
    CloudflareTunnel,
    GatewayRef,
    IngressSsoArgs,
    OidcSso,
)
from mlflow_platform.ingress_sso.cloudflared import cloudflared
from mlflow_platform.ingress_sso.gateway import Routes, declare_gateway_route
from mlflow_platform.ingress_sso.ingress import ingress_spec
from mlflow_platform.ingress_sso.oauth2_proxy import oauth2_proxy
from mlflow_platform.inputs import IngressSsoInputs
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.outputs import registered_outputs

__all__ = ['NGINX', 'OAUTH2_PROXY_PORT', 'AlbSettings', 'CloudflareTunnel', 'GatewayRef', 'IngressSSO', 'IngressSsoArgs',
           'OidcSso']


class IngressSSO(pulumi.ComponentResource):
    """The front door: a route into the cluster (Gateway API HTTPRoute or Ingress) and oauth2-proxy, or a Cloudflare
    tunnel, in front of MLflow."""

    tracking_url: pulumi.Output[str]
    """The tracking URI people and programs outside the cluster use, e.g. https://mlflow.example.com."""
    url: pulumi.Output[str]
    """The browser origin (MlflowServer's cors_allowed_origins)."""
    host: pulumi.Output[str]
    """The host name (MlflowServer's extra_allowed_hosts)."""
    proxy_selector: dict[str, str] | None
    """Labels of the pods that carry people's requests to the server: oauth2-proxy, or cloudflared."""

    @overload
    def __init__(self, name: str, args: IngressSsoArgs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    @overload
    def __init__(self, name: str, args: IngressSsoInputs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    # The annotation is IngressSsoInputs, which the schema is inferred from; Python programs may pass either form.
    def __init__(self, name: str, args: IngressSsoInputs, opts: pulumi.ResourceOptions | None = None) -> None:  # type: ignore[misc]
        config = args_of(IngressSsoArgs, args)
        super().__init__("mlflow-platform:index:IngressSSO", name, None, opts)
        self._declare(name, config)

    def _declare(self, name: str, args: IngressSsoArgs) -> None:
        self.proxy_selector = None
        if args.cloudflare:
            # Nothing routes into the cluster: the connectors dial out to Cloudflare.
            self.proxy_selector = cloudflared(self, name, args, args.cloudflare)
        else:
            # Straight to MLflow, the route sends job submissions to the jobs Service; oauth2-proxy does it itself.
            # Each backend with the path its load balancer checks: MLflow's /health, oauth2-proxy's /ping (answered
            # before any session or Host check, oauthproxy.go).
            health = f"{args.path_prefix}/health"
            backends: list[tuple[pulumi.Input[str], str]] = [(args.service_name, health)]
            routes: Routes = []
            if args.jobs_service_name is not None:
                routes = [(route, args.jobs_service_name) for route in args.job_routes]
                backends.append((args.jobs_service_name, health))
            port = args.service_port
            if args.sso:
                self.proxy_selector = selector_labels("oauth2-proxy", f"{name}-oauth2-proxy", "sso")
                backends, routes = [(oauth2_proxy(self, name, args, args.sso).metadata.name, "/ping")], []
                port = OAUTH2_PROXY_PORT
            self._route(name, args, backends, port, routes)
        self.tracking_url = pulumi.Output.from_input(args.tracking_url)
        self.url = pulumi.Output.from_input(args.url)
        self.host = pulumi.Output.from_input(args.host)
        self.register_outputs(registered_outputs(self))

    def _route(self, name: str, args: IngressSsoArgs, backends: list[tuple[pulumi.Input[str], str]], port: int,
               routes: Routes) -> None:
        """Traffic for the host into the cluster: an HTTPRoute on a Gateway, or an Ingress."""
        labels = standard_labels("mlflow", name, "ingress")
        if args.gateway:
            declare_gateway_route(self, name, args, args.gateway, backends, port, routes, labels)
            return
        service = backends[0][0]
        annotations: dict[str, pulumi.Input[str]] = {
            **args.annotations,
            # Artifacts stream through the server: no buffering at nginx, a body as large as /tmp, long timeouts.
            f"{NGINX}/proxy-body-size": args.max_body_size,
            f"{NGINX}/proxy-request-buffering": "off",
            f"{NGINX}/proxy-read-timeout": str(args.timeout_seconds),
            f"{NGINX}/proxy-send-timeout": str(args.timeout_seconds),
        }
        if args.tls_cluster_issuer:
            annotations["cert-manager.io/cluster-issuer"] = args.tls_cluster_issuer
        if args.tls:
            annotations[f"{NGINX}/ssl-redirect"] = "true"
        k8s.networking.v1.Ingress(
            name,
            metadata={"name": name, "namespace": args.namespace, "annotations": annotations, "labels": labels},
            spec=ingress_spec(args, args.tls_secret or f"{name}-tls", service, port, routes),
            opts=pulumi.ResourceOptions(parent=self),
        )
