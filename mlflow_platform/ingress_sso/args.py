"""What IngressSSO takes: the host, TLS and the OIDC provider oauth2-proxy signs people in with."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from mlflow_platform.kube.pods import PodSettings, qualified_name_problem
from mlflow_platform.kube.resources import WorkloadSizes
from mlflow_platform.validation import (
    acm_certificate_arn_problem,
    dns_label_problem,
    dns_name_problem,
    dns_subdomain_problem,
    image_problem,
    input_problem,
    issuer_url_problem,
    program_identity_problem,
    refuse,
    subnet_id_problem,
)
from mlflow_platform.versions import CLOUDFLARED_IMAGE, OAUTH2_PROXY_IMAGE

OAUTH2_PROXY_PORT = 4180
NGINX = "nginx.ingress.kubernetes.io"
PLATFORM_ANNOTATIONS = {
    f"{NGINX}/proxy-body-size": "the server's /tmp size",
    f"{NGINX}/proxy-request-buffering": "artifacts stream through the server",
    f"{NGINX}/proxy-read-timeout": "timeout_seconds",
    f"{NGINX}/proxy-send-timeout": "timeout_seconds",
    f"{NGINX}/ssl-redirect": "TLS",
    "cert-manager.io/cluster-issuer": "tls_cluster_issuer",
}
"""The Ingress annotations the platform sets, and from what: a team's own may not override them."""


def annotation_problems(annotations: Mapping[str, Any]) -> list[str]:
    """Why these cannot be added to the Ingress: keys and values as Kubernetes takes them, none of the platform's."""
    return [problem for key, value in annotations.items()
            if (problem := qualified_name_problem(key) or (None if isinstance(value, str) else f"{value!r} is not a string")
                or (f"{key!r} is set by the platform ({PLATFORM_ANNOTATIONS[key]})" if key in PLATFORM_ANNOTATIONS
                    else None))]


@dataclass(frozen=True)
class OidcSso:
    """oauth2-proxy in front of MLflow, signing people in with an OpenID provider."""

    issuer_url: pulumi.Input[str]
    """The OpenID provider (its /.well-known/openid-configuration is read at start-up)."""
    client_id: pulumi.Input[str]
    """The OAuth client registered for this front door."""
    client_secret: pulumi.Input[str]
    """A Pulumi secret."""
    email_domains: tuple[str, ...] = ()
    """E-mail domains admitted (['*']: every account of the provider)."""
    allowed_groups: tuple[str, ...] = ()
    """Groups admitted (the provider's groups claim)."""
    allowed_programs: tuple[str, ...] = ()
    """Programs admitted beside the domains: the e-mail of each one's token or, for a token without one (client
    credentials), its `sub`, which oauth2-proxy then takes as the e-mail and checks against the domains."""
    image: str = OAUTH2_PROXY_IMAGE
    """oauth2-proxy's image, pinned."""
    program_issuers: tuple[str, ...] = ()
    """issuer=audience pairs whose bearer JWTs (CI, laptops) pass without a browser session."""
    cookie_refresh: str = "30m"
    """Re-check the session with the provider this often: a deprovisioned user loses access within it."""
    replicas: int = 2
    """oauth2-proxy pods."""


GATEWAY_CONTROLLERS = ("other", "nginx-gateway-fabric", "aws-alb")
"""Implementations whose own settings the component declares beside the route (gateway.py)."""
ALB_SCHEMES = ("internet-facing", "internal")


@dataclass(frozen=True)
class AlbSettings:
    """The ALB the AWS Load Balancer Controller provisions for a Gateway (its LoadBalancerConfiguration)."""

    scheme: str = "internet-facing"
    """internet-facing, or internal (reachable from the VPC only)."""
    subnet_ids: tuple[str, ...] = ()
    """The ALB's subnets; empty lets the controller discover them by their kubernetes.io/role/elb tags."""
    certificate_arn: str | None = None
    """The ACM certificate of the HTTPS listener; None lets the controller discover one for the host name."""
    https: bool = True
    """An HTTPS listener on 443 (TLS ends at the ALB); False: HTTP on 80, for a trial only."""


@dataclass(frozen=True)
class GatewayRef:
    """A Gateway API Gateway: one someone else runs (its listener terminates TLS), or, with class_name, one this
    component declares."""

    name: str
    """The Gateway's name."""
    namespace: str | None = None
    """None: the route's own namespace. Another one needs the listener's allowedRoutes to admit it (a Gateway the
    component declares admits the route's namespace by name)."""
    section_name: str | None = None
    """A listener of the Gateway; None attaches to every listener that admits the route."""
    class_name: str | None = None
    """The GatewayClass of a Gateway the component declares; None attaches to an existing Gateway."""
    controller: str = "other"
    """The implementation behind the class: nginx-gateway-fabric and aws-alb get their own settings for the body
    size and timeouts (they ignore HTTPRoute timeouts); other gets the standard HTTPRoute timeouts."""
    alb: AlbSettings | None = None
    """The ALB of a Gateway the component declares (controller aws-alb)."""

    def __post_init__(self) -> None:
        if self.alb is None and self.controller == "aws-alb" and self.class_name:
            object.__setattr__(self, "alb", AlbSettings())
        alb = self.alb
        refuse("GatewayRef",
               dns_subdomain_problem(self.name),
               dns_label_problem(self.namespace) if self.namespace else None,
               dns_subdomain_problem(self.section_name) if self.section_name else None,
               dns_subdomain_problem(self.class_name) if self.class_name else None,
               acm_certificate_arn_problem(alb.certificate_arn) if alb and alb.certificate_arn else None,
               *(subnet_id_problem(subnet) for subnet in (alb.subnet_ids if alb else ())),
               None if self.controller in GATEWAY_CONTROLLERS
               else f"controller {self.controller!r} is not one of {', '.join(GATEWAY_CONTROLLERS)}",
               "alb configures the ALB of a Gateway the component declares: set class_name and controller 'aws-alb'"
               if alb and (self.controller != "aws-alb" or not self.class_name) else None,
               f"alb.scheme {alb.scheme!r} is not one of {', '.join(ALB_SCHEMES)}"
               if alb and alb.scheme not in ALB_SCHEMES else None,
               "alb.certificate_arn is for the HTTPS listener: set alb.https"
               if alb and alb.certificate_arn and not alb.https else None,
               "section_name picks a listener of an existing Gateway; the component names its own"
               if self.class_name and self.section_name else None)

    @property
    def declared(self) -> bool:
        return self.class_name is not None


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
    """cloudflared's image, pinned."""
    replicas: int = 2
    """Cloudflare's Kubernetes guide: replicas for availability only (no autoscaling)."""


@dataclass(frozen=True)
class IngressSsoArgs:
    """What IngressSSO takes.

    Fields typed pulumi.Input (namespace, host, the MLflow and jobs Services, the TLS Secret, the OIDC issuer and
    client) accept other resources' outputs: known values are checked at preview, unknown ones when they resolve.
    Every other field must be known at preview: it decides which objects exist (Ingress, HTTPRoute, oauth2-proxy,
    cloudflared) and their routes.
    """

    namespace: pulumi.Input[str]
    """The namespace of the route and of oauth2-proxy (or cloudflared)."""
    host: pulumi.Input[str]
    """The DNS name people and programs reach MLflow at, e.g. mlflow.example.com."""
    service_name: pulumi.Input[str]
    """The MLflow Service behind the Ingress."""
    service_port: int = 5000
    """The MLflow Service's port."""
    jobs_service_name: pulumi.Input[str] | None = None
    """The MLflow jobs Service, which takes `job_routes` (the requests that submit server-side jobs)."""
    job_routes: tuple[str, ...] = ()
    """Paths that submit server-side jobs (MlflowServer's JOB_ROUTES), routed to the jobs Service."""
    ingress_class: str | None = None
    """The IngressClass (without gateway and cloudflare); None: the cluster's default IngressClass."""
    tls_cluster_issuer: str | None = None
    """cert-manager ClusterIssuer that issues the certificate."""
    tls_secret: pulumi.Input[str] | None = None
    """An existing TLS Secret (used as the certificate's Secret name with cert-manager)."""
    sso: OidcSso | None = None
    """None: no authentication at the Ingress (the stack refuses that unless told explicitly)."""
    annotations: dict[str, str] = field(default_factory=dict)
    """More annotations of the Ingress (not with gateway or cloudflare), e.g. the AWS Load Balancer Controller's
    alb.ingress.kubernetes.io/*; never one the platform sets (platform_annotations)."""
    max_body_size: str = "4096m"
    """nginx client_max_body_size: the largest artifact the server's /tmp can buffer."""
    timeout_seconds: int = 900
    """How long a request may take through the Ingress (large artifacts)."""
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
        owner = "IngressSsoArgs"
        problems = [p for p in (input_problem(owner, self, "namespace", dns_label_problem),
                                input_problem(owner, self, "host", dns_name_problem),
                                input_problem(owner, self, "tls_secret", dns_subdomain_problem),
                                input_problem(owner, self.sso, "issuer_url", issuer_url_problem) if self.sso else None,
                                image_problem(self.sso.image) if self.sso else None) if p]
        if self.cloudflare and self.jobs_service_name:
            problems.append("a Cloudflare tunnel routes by its remote configuration at Cloudflare, not by objects of "
                            "this component: leave jobs_service_name unset and give the tunnel's public hostname a "
                            "path rule for the job routes there (docs/front-doors.md)")
        problems += annotation_problems(self.annotations)
        if self.annotations and (self.gateway or self.cloudflare):
            problems.append("annotations are the Ingress's: there is no Ingress with a gateway or a Cloudflare tunnel")
        problems += [problem for program in (self.sso.allowed_programs if self.sso else ())
                     if (problem := program_identity_problem(program))]
        if self.sso and not (self.sso.email_domains or self.sso.allowed_groups):
            problems.append("sso needs email_domains or allowed_groups (['*'] admits every account of the provider)")
        if problems:
            raise ValueError("IngressSsoArgs: " + "; ".join(problems))

    @property
    def tls(self) -> bool:
        """Whether people reach the host over HTTPS: someone else's Gateway terminates TLS, an ALB does unless told
        otherwise, and the component's Gateway or Ingress does with a certificate."""
        if self.cloudflare or (self.gateway and not self.gateway.declared):
            return True
        if self.gateway and self.gateway.alb:
            return self.gateway.alb.https
        return bool(self.tls_cluster_issuer or self.tls_secret)

    @property
    def tracking_url(self) -> pulumi.Input[str]:
        return self.url_with(self.path_prefix)

    @property
    def url(self) -> pulumi.Input[str]:
        """The browser's origin: a plain string when the host is (so it is known at preview), else an Output."""
        return self.url_with("")

    def url_with(self, path: str) -> pulumi.Input[str]:
        scheme = "https" if self.tls else "http"
        if isinstance(self.host, str):
            return f"{scheme}://{self.host}{path}"
        return pulumi.Output.concat(scheme, "://", self.host, path)
