"""The front door area: the Ingress host, TLS, and the OIDC provider oauth2-proxy signs people in with."""

from mlflow_platform.ingress_sso import AlbSettings, CloudflareTunnel, GatewayRef, IngressSsoArgs, OidcSso
from mlflow_platform.ingress_sso.args import annotation_problems
from mlflow_platform.mlflow_server.auth import TrustedIssuer

# Object names (IngressClass, Secret, ClusterIssuer, Gateway) and Gateway API section names are DNS subdomains.
from mlflow_platform.validation import (
    parse_quantity,
)
from mlflow_platform.versions import CLOUDFLARED_IMAGE, OAUTH2_PROXY_IMAGE
from settings.providers import missing_claim
from settings.reader import ConfigReader

FRONT_DOORS = ("gateway", "ingress", "cloudflare")
DECLARED_GATEWAY_NAME = "mlflow"
"""The Gateway's name when the stack declares it and gatewayName is empty."""


def read_front_door(read: ConfigReader, namespace: str | None, service_name: str,
                    tmp_size: str | None, data_protection: bool = False) -> IngressSsoArgs | None:
    """None without an ingress host, or when a key of this area is wrong (the problems are recorded).

    `tmp_size` is the server's /tmp size: the largest body the Ingress lets through. Either it or the
    namespace is None when its own key is wrong; the front door is then not built either."""
    mark = len(read.problems)
    host = read.optional("ingressHost")
    sso_enabled = read.boolean("ssoEnabled")
    unauthenticated = read.boolean("allowUnauthenticatedIngress")
    if not host:
        return None
    front_door = read.string("frontDoor")
    cloudflare = _cloudflare(read, required=front_door == "cloudflare")
    if front_door == "cloudflare" and sso_enabled:
        read.fail("ssoEnabled", "Cloudflare Access signs people in with frontDoor cloudflare: set ssoEnabled false")
    sso = _sso(read) if sso_enabled and front_door != "cloudflare" else None
    any_account = read.boolean("ssoAllowAnyAccount")
    if sso and "*" in sso.email_domains and not sso.allowed_groups and data_protection and not any_account:
        read.fail("ssoEmailDomains", '["*"] lets in every account your provider has (for Google: every Gmail user); '
                                     "name your domains or set ssoAllowedGroups, or set "
                                     f"{read.key('ssoAllowAnyAccount')} to true to accept that")
    if not sso_enabled and not unauthenticated and front_door != "cloudflare":
        read.fail("ssoEnabled", f"an Ingress without SSO exposes MLflow to anyone who reaches {host}; enable SSO, or set "
                                f"{read.key('allowUnauthenticatedIngress')} to true to accept that")
    ingress_class = read.optional("ingressClass")
    annotations = read.mapping("ingressAnnotations")
    for problem in annotation_problems(annotations):
        read.fail("ingressAnnotations", problem)
    if annotations and front_door != "ingress":
        read.fail("ingressAnnotations", f"are the Ingress's: frontDoor {front_door} declares no Ingress")
    tls_cluster_issuer = read.optional("ingressTlsClusterIssuer")
    tls_secret = read.optional("ingressTlsSecret")
    through_gateway = front_door == "gateway"
    gateway = _gateway(read, required=through_gateway)
    if ingress_class and front_door != "ingress":
        read.fail("ingressClass", f"is the Ingress's: frontDoor {front_door} declares no Ingress")
    if tls_cluster_issuer or tls_secret:
        whose = None
        if front_door == "cloudflare":
            whose = "Cloudflare's"
        elif gateway and not gateway.declared:
            whose = "the Gateway's (its listener's certificateRefs)"
        elif gateway and gateway.alb:
            whose = f"the ALB's, from ACM ({read.key('albCertificateArn')}, or discovered for the host name)"
        if whose:
            read.fail("ingressTlsClusterIssuer" if tls_cluster_issuer else "ingressTlsSecret",
                      f"TLS is {whose} with this front door: leave it empty")
    if read.problems_since(mark) or namespace is None or tmp_size is None:
        return None
    return IngressSsoArgs(
        namespace=namespace,
        host=host,
        service_name=service_name,
        ingress_class=ingress_class,
        tls_cluster_issuer=tls_cluster_issuer,
        tls_secret=tls_secret,
        sso=sso,
        annotations=annotations,
        max_body_size=f"{int(parse_quantity(tmp_size) / 2**20)}m",
        gateway=gateway if through_gateway else None,
        cloudflare=cloudflare if front_door == "cloudflare" else None,
    )


def people_issuer(front_door: IngressSsoArgs | None) -> TrustedIssuer | None:
    """Whose tokens name the people the front door signed in: the SSO provider's ID tokens (oauth2-proxy passes
    them as Authorization: Bearer), or Cloudflare Access's JWTs (Cf-Access-Jwt-Assertion; a service token's
    has no email, only its client id as common_name)."""
    if front_door and front_door.cloudflare:
        access = front_door.cloudflare
        return TrustedIssuer(issuer=access.access_issuer, audiences=(access.access_audience,),
                             header="Cf-Access-Jwt-Assertion", username_claims=("email", "common_name"),
                             jwks_uri=f"{access.access_issuer}/cdn-cgi/access/certs")
    if front_door and front_door.sso:
        return TrustedIssuer(issuer=front_door.sso.issuer_url, audiences=(front_door.sso.client_id,))
    return None


def _cloudflare(read: ConfigReader, required: bool) -> CloudflareTunnel | None:
    team = read.optional("cloudflareTeamDomain")
    audience = read.optional("cloudflareAudienceTag")
    token = read.secret("cloudflareTunnelToken")
    image = read.image("cloudflaredImage", CLOUDFLARED_IMAGE)
    if required:
        for key, value in (("cloudflareTeamDomain", team), ("cloudflareAudienceTag", audience),
                           ("cloudflareTunnelToken", token)):
            if not value:
                read.fail(key, "is required with frontDoor cloudflare"
                          + (" (set it with --secret)" if key == "cloudflareTunnelToken" else ""))
    if not (team and audience and token):
        return None
    issuer = team if "://" in team else f"https://{team}"
    return CloudflareTunnel(tunnel_token=token, access_issuer=issuer.rstrip("/"), access_audience=audience, image=image)



def _gateway(read: ConfigReader, required: bool) -> GatewayRef | None:
    """The stack's own Gateway with gatewayClassName, else the existing one named gatewayName."""
    mark = len(read.problems)
    name = read.optional("gatewayName")
    namespace = read.optional("gatewayNamespace")
    section = read.optional("gatewaySectionName")
    class_name = read.optional("gatewayClassName")
    controller = read.string("gatewayController")
    alb = _alb(read)
    if not required:
        for key, value in (("gatewayName", name), ("gatewayClassName", class_name), ("gatewaySectionName", section)):
            if value:
                read.fail(key, "is the Gateway's: set frontDoor gateway, or leave it empty")
        return None
    if not (name or class_name):
        read.fail("gatewayName", "frontDoor gateway needs a Gateway: name an existing one here, or set "
                                 f"{read.key('gatewayClassName')} for the stack to declare its own")
    if class_name and section:
        read.fail("gatewaySectionName", "picks a listener of an existing Gateway; the stack's own Gateway "
                                        "(gatewayClassName) has one listener for ingressHost")
    if alb and not (class_name and controller == "aws-alb"):
        read.fail("albScheme", "the alb* keys configure the ALB of the stack's own Gateway: set "
                               f"{read.key('gatewayClassName')} and gatewayController aws-alb")
    if read.problems_since(mark):
        return None
    return GatewayRef(name=name or DECLARED_GATEWAY_NAME, namespace=namespace, section_name=section,
                      class_name=class_name, controller=controller,
                      alb=(alb or AlbSettings()) if class_name and controller == "aws-alb" else None)


def _alb(read: ConfigReader) -> AlbSettings | None:
    """None when every alb* key has its default."""
    scheme = read.string("albScheme")
    subnets = read.string_list("albSubnetIds")
    certificate = read.optional("albCertificateArn")
    https = read.boolean("albHttps")
    if certificate and not https:
        read.fail("albCertificateArn", f"is the HTTPS listener's, and {read.key('albHttps')} is false")
    settings = AlbSettings(scheme=scheme, subnet_ids=subnets, certificate_arn=certificate, https=https)
    return None if settings == AlbSettings() else settings


def _sso(read: ConfigReader) -> OidcSso:
    issuer = read.optional("ssoIssuerUrl")
    client_id = read.optional("ssoClientId")
    client_secret = read.secret("ssoClientSecret")
    domains = read.string_list("ssoEmailDomains")
    groups = read.string_list("ssoAllowedGroups")
    programs = read.string_list("ssoAllowedPrograms")
    if groups and issuer and (provider := missing_claim(issuer, "groups")):
        read.fail("ssoAllowedGroups", f"{provider}'s ID tokens carry no groups claim ({issuer}'s claims_supported): "
                                      "oauth2-proxy's OIDC provider would let nobody in; use ssoEmailDomains")
    for key, value in (("ssoIssuerUrl", issuer), ("ssoClientId", client_id), ("ssoClientSecret", client_secret)):
        if not value:
            read.fail(key, "is required while ssoEnabled is true and ingressHost is set"
                      + (" (set it with --secret)" if key == "ssoClientSecret" else ""))
    if not (domains or groups):
        read.fail("ssoEmailDomains", "set ssoEmailDomains (e.g. [\"example.com\"], or [\"*\"] for every account "
                                     "of the provider) or ssoAllowedGroups")
    return OidcSso(issuer_url=issuer or "", client_id=client_id or "", client_secret=client_secret or "",
                   email_domains=domains, allowed_groups=groups, allowed_programs=programs,
                   image=read.image("oauth2ProxyImage", OAUTH2_PROXY_IMAGE))
