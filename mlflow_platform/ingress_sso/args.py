"""What IngressSSO takes: the host, TLS and the OIDC provider oauth2-proxy signs people in with."""

from dataclasses import dataclass, field

import pulumi

from mlflow_platform.kube.pods import PodSettings
from mlflow_platform.kube.resources import WorkloadSizes
from mlflow_platform.validation import dns_label_problem, image_problem
from mlflow_platform.versions import CLOUDFLARED_IMAGE, OAUTH2_PROXY_IMAGE

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
    program_issuers: tuple[str, ...] = ()
    """issuer=audience pairs whose bearer JWTs (CI, laptops) pass without a browser session."""
    cookie_refresh: str = "30m"
    """Re-check the session with the provider this often: a deprovisioned user loses access within it."""
    replicas: int = 2


@dataclass(frozen=True)
class GatewayRef:
    """A Gateway API Gateway someone else runs; its listener terminates TLS (listeners[].tls)."""

    name: str
    namespace: str | None = None
    """None: the route's own namespace. Another one needs the listener's allowedRoutes to admit it."""
    section_name: str | None = None
    """A listener of the Gateway; None attaches to every listener that admits the route."""


@dataclass(frozen=True)
class CloudflareTunnel:
    """Cloudflare Access in front, reached through a remotely managed tunnel: no public Ingress at all."""

    tunnel_token: pulumi.Input[str]
    """A Pulumi secret: the token of the tunnel whose public hostname routes to the MLflow Service."""
    access_issuer: str
    """https://<team>.cloudflareaccess.com: the `iss` of Access's JWTs; its keys are at /cdn-cgi/access/certs."""
    access_audience: str
    """The Access application's AUD tag (the JWTs' `aud`)."""
    image: str = CLOUDFLARED_IMAGE
    replicas: int = 2
    """Cloudflare's Kubernetes guide: replicas for availability only (no autoscaling)."""


@dataclass(frozen=True)
class IngressSsoArgs:
    namespace: str
    host: str
    service_name: pulumi.Input[str]
    """The MLflow Service behind the Ingress."""
    service_port: int = 5000
    jobs_service_name: pulumi.Input[str] | None = None
    """The MLflow jobs Service, which takes `job_routes` (the requests that submit server-side jobs)."""
    job_routes: tuple[str, ...] = ()
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
    gateway: GatewayRef | None = None
    """Route through this Gateway with an HTTPRoute instead of an Ingress (TLS is the Gateway's)."""
    cloudflare: CloudflareTunnel | None = None
    """A cloudflared tunnel instead of any route into the cluster (Cloudflare Access signs people in)."""
    path_prefix: str = ""
    """MLflow's --static-prefix: the route takes only that path, and oauth2-proxy's own pages move under it."""
    sizes: WorkloadSizes = field(default_factory=WorkloadSizes)
    """The size of each small workload here (mlflow_platform/kube/resources.py DEFAULT_RESOURCES)."""
    pods: PodSettings = field(default_factory=PodSettings)
    """Scheduling, pull secrets and metadata for every pod here."""

    def __post_init__(self) -> None:
        problems = [p for p in (dns_label_problem(self.namespace),
                                None if "." in self.host and " " not in self.host else f"host {self.host!r} is not a DNS name",
                                image_problem(self.sso.image) if self.sso else None) if p]
        if self.cloudflare and self.jobs_service_name:
            problems.append("a Cloudflare tunnel routes by its remote configuration, which this program does not "
                            "manage: job submissions cannot be routed to the jobs Service")
        if self.sso and not (self.sso.email_domains or self.sso.allowed_groups):
            problems.append("sso needs email_domains or allowed_groups (['*'] admits every account of the provider)")
        if problems:
            raise ValueError("IngressSsoArgs: " + "; ".join(problems))

    @property
    def tls(self) -> bool:
        return bool(self.gateway or self.cloudflare or self.tls_cluster_issuer or self.tls_secret)

    @property
    def tracking_url(self) -> str:
        return self.url + self.path_prefix

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"
