"""The front door: an Ingress with TLS for MLflow, authenticated by oauth2-proxy (OIDC) at the controller.

ingress-nginx asks oauth2-proxy (`auth-url`) about every request and sends the unauthenticated to its
sign-in page (`auth-signin`); oauth2-proxy's own Ingress serves /oauth2 on the same host.
"""


import pulumi
import pulumi_kubernetes as k8s

from components.ingress_sso.args import NGINX, OAUTH2_PROXY_PORT, IngressSsoArgs, OidcSso
from components.ingress_sso.ingress import ingress_spec
from components.ingress_sso.oauth2_proxy import oauth2_proxy
from components.kube.labels import selector_labels, standard_labels

__all__ = ['NGINX', 'OAUTH2_PROXY_PORT', 'IngressSSO', 'IngressSsoArgs', 'OidcSso']


class IngressSSO(pulumi.ComponentResource):
    tracking_url: pulumi.Output[str]
    proxy_selector: dict[str, str] | None
    """Labels of the oauth2-proxy pods (None without SSO)."""

    def __init__(self, name: str, args: IngressSsoArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlflow-platform:index:IngressSSO", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tls_secret = args.tls_secret or f"{name}-tls"
        self.proxy_selector = selector_labels("oauth2-proxy", f"{name}-oauth2-proxy", "sso") if args.sso else None
        annotations: dict[str, pulumi.Input[str]] = {
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
        if args.sso:
            proxy_service = oauth2_proxy(self, name, args, args.sso, tls_secret)
            annotations[f"{NGINX}/auth-url"] = pulumi.Output.format(
                "http://{0}.{1}.svc.cluster.local:{2}/oauth2/auth", proxy_service.metadata.name, args.namespace,
                OAUTH2_PROXY_PORT)
            annotations[f"{NGINX}/auth-signin"] = f"{args.url}/oauth2/start?rd=$escaped_request_uri"
            # Authorization carries the verified identity to MLflow's auth app (the ID token, or the program's JWT).
            annotations[f"{NGINX}/auth-response-headers"] = "X-Auth-Request-User,X-Auth-Request-Email,Authorization"

        k8s.networking.v1.Ingress(
            name,
            metadata={"name": name, "namespace": args.namespace, "annotations": annotations,
                      "labels": standard_labels("mlflow", name, "ingress")},
            spec=ingress_spec(args, tls_secret, "/", args.service_name, args.service_port),
            opts=child,
        )
        self.tracking_url = pulumi.Output.from_input(args.url)
        self.register_outputs({"trackingUrl": self.tracking_url})
