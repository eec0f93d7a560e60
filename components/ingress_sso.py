"""The front door: an Ingress with TLS for MLflow, authenticated by oauth2-proxy (OIDC) at the controller.

ingress-nginx asks oauth2-proxy (`auth-url`) about every request and sends the unauthenticated to its
sign-in page (`auth-signin`); oauth2-proxy's own Ingress serves /oauth2 on the same host.
"""

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.env import secret_env
from components.hardening import container_security_context, empty_dir, pod_security_context
from components.labels import selector_labels, standard_labels
from components.resources import ResourceSpec
from components.timeouts import OAUTH2_PROXY_IMAGE_MEGABYTES, await_timeout, probe_budget_seconds
from components.validation import dns_label_problem, image_problem
from components.versions import OAUTH2_PROXY_IMAGE, OAUTH2_PROXY_UID

OAUTH2_PROXY_PORT = 4180
NGINX = "nginx.ingress.kubernetes.io"


@dataclass(frozen=True)
class OidcSso:
    issuer_url: str
    client_id: str
    client_secret: pulumi.Input[str]
    """A Pulumi secret."""
    email_domains: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    image: str = OAUTH2_PROXY_IMAGE


@dataclass(frozen=True)
class IngressSsoArgs:
    namespace: str
    host: str
    service_name: pulumi.Input[str]
    """The MLflow Service behind the Ingress."""
    service_port: int = 5000
    ingress_class: str = "nginx"
    tls_cluster_issuer: str | None = None
    """cert-manager ClusterIssuer that issues the certificate."""
    tls_secret: str | None = None
    """An existing TLS Secret (used as the certificate's Secret name with cert-manager)."""
    sso: OidcSso | None = None
    """None: no authentication at the Ingress (the stack refuses that unless told explicitly)."""
    max_body_size: str = "4096m"
    """nginx client_max_body_size: the largest artifact the server's /tmp can buffer."""
    timeout_seconds: int = 900

    def __post_init__(self) -> None:
        problems = [p for p in (dns_label_problem(self.namespace),
                                None if "." in self.host and " " not in self.host else f"host {self.host!r} is not a DNS name",
                                image_problem(self.sso.image) if self.sso else None) if p]
        if self.sso and not (self.sso.email_domains or self.sso.allowed_groups):
            problems.append("sso needs email_domains or allowed_groups (['*'] admits every account of the provider)")
        if problems:
            raise ValueError("IngressSsoArgs: " + "; ".join(problems))

    @property
    def tls(self) -> bool:
        return bool(self.tls_cluster_issuer or self.tls_secret)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"


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
            proxy_service = self._oauth2_proxy(name, args, args.sso, tls_secret, child)
            annotations[f"{NGINX}/auth-url"] = pulumi.Output.format(
                "http://{0}.{1}.svc.cluster.local:{2}/oauth2/auth", proxy_service.metadata.name, args.namespace,
                OAUTH2_PROXY_PORT)
            annotations[f"{NGINX}/auth-signin"] = f"{args.url}/oauth2/start?rd=$escaped_request_uri"
            annotations[f"{NGINX}/auth-response-headers"] = "X-Auth-Request-User,X-Auth-Request-Email"

        k8s.networking.v1.Ingress(
            name,
            metadata={"name": name, "namespace": args.namespace, "annotations": annotations,
                      "labels": standard_labels("mlflow", name, "ingress")},
            spec=self._spec(args, tls_secret, "/", args.service_name, args.service_port),
            opts=child,
        )
        self.tracking_url = pulumi.Output.from_input(args.url)
        self.register_outputs({"trackingUrl": self.tracking_url})

    @staticmethod
    def _spec(args: IngressSsoArgs, tls_secret: str, path: str, service: pulumi.Input[str], port: int) -> dict[str, Any]:
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

    def _oauth2_proxy(self, name: str, args: IngressSsoArgs, sso: OidcSso, tls_secret: str,
                      child: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        proxy = f"{name}-oauth2-proxy"
        labels = standard_labels("oauth2-proxy", proxy, "sso")
        selector = selector_labels("oauth2-proxy", proxy, "sso")
        metadata = {"namespace": args.namespace, "labels": labels}
        # oauth2-proxy wants a cookie secret of exactly 16, 24 or 32 bytes.
        cookie = random.RandomPassword(f"{proxy}-cookie-secret", length=32, special=False, opts=child)
        secret = k8s.core.v1.Secret(
            proxy,
            metadata={**metadata, "name": proxy},
            type="Opaque",
            string_data={"client-id": sso.client_id, "client-secret": pulumi.Output.secret(sso.client_secret),
                         "cookie-secret": cookie.result},
            opts=child,
        )
        flags = [
            "--provider=oidc",
            f"--oidc-issuer-url={sso.issuer_url}",
            f"--http-address=0.0.0.0:{OAUTH2_PROXY_PORT}",
            f"--redirect-url={args.url}/oauth2/callback",
            f"--whitelist-domain={args.host}",
            f"--cookie-domain={args.host}",
            f"--cookie-secure={'true' if args.tls else 'false'}",
            "--reverse-proxy=true",
            "--set-xauthrequest=true",
            "--skip-provider-button=true",
            "--upstream=static://202",
            *(f"--email-domain={domain}" for domain in sso.email_domains),
            *(f"--allowed-group={group}" for group in sso.allowed_groups),
        ]
        if not sso.email_domains:
            flags.append("--email-domain=*")  # the group check decides
        probe = {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 10}
        probes = {"livenessProbe": probe, "readinessProbe": {**probe, "httpGet": {"path": "/ready", "port": "http"}}}
        k8s.apps.v1.Deployment(
            proxy,
            metadata={**metadata, "name": proxy},
            spec={
                "replicas": 2,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security_context(OAUTH2_PROXY_UID),
                        "containers": [{
                            "name": "oauth2-proxy",
                            "image": sso.image,
                            "args": flags,
                            "env": [
                                secret_env("OAUTH2_PROXY_CLIENT_ID", secret.metadata.name, "client-id"),
                                secret_env("OAUTH2_PROXY_CLIENT_SECRET", secret.metadata.name, "client-secret"),
                                secret_env("OAUTH2_PROXY_COOKIE_SECRET", secret.metadata.name, "cookie-secret"),
                            ],
                            "ports": [{"name": "http", "containerPort": OAUTH2_PROXY_PORT}],
                            "resources": ResourceSpec("50m", "64Mi", "500m", "256Mi").to_kubernetes(),
                            "securityContext": container_security_context(),
                            **probes,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }],
                        "volumes": [empty_dir("tmp", "16Mi")],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=await_timeout(
                OAUTH2_PROXY_IMAGE_MEGABYTES, probe_budget_seconds(probes))),
        )
        service = k8s.core.v1.Service(
            proxy,
            metadata={**metadata, "name": proxy},
            spec={"type": "ClusterIP", "selector": selector,
                  "ports": [{"name": "http", "port": OAUTH2_PROXY_PORT, "targetPort": "http"}]},
            opts=child,
        )
        k8s.networking.v1.Ingress(
            proxy,
            metadata={**metadata, "name": proxy},
            spec=self._spec(args, tls_secret, "/oauth2", service.metadata.name, OAUTH2_PROXY_PORT),
            opts=child,
        )
        return service
