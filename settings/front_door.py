"""The front door area: the Ingress host, TLS, and the OIDC provider oauth2-proxy signs people in with."""

from components.ingress_sso import GatewayRef, IngressSsoArgs, OidcSso
from components.validation import dns_label_problem, parse_quantity
from components.versions import OAUTH2_PROXY_IMAGE
from settings.checks import dns_name_problem, https_url_problem
from settings.reader import ConfigReader

FRONT_DOORS = ("ingress", "gateway")


def read_front_door(read: ConfigReader, namespace: str | None, service_name: str,
                    tmp_size: str | None, data_protection: bool = False) -> IngressSsoArgs | None:
    """None without an ingress host, or when a key of this area is wrong (the problems are recorded).

    `tmp_size` is the server's /tmp size: the largest body the Ingress lets through. Either it or the
    namespace is None when its own key is wrong; the front door is then not built either."""
    mark = len(read.problems)
    host = read.optional("ingressHost", check=dns_name_problem)
    sso_enabled = read.boolean("ssoEnabled")
    unauthenticated = read.boolean("allowUnauthenticatedIngress")
    if not host:
        return None
    sso = _sso(read) if sso_enabled else None
    any_account = read.boolean("ssoAllowAnyAccount")
    if sso and "*" in sso.email_domains and not sso.allowed_groups and data_protection and not any_account:
        read.fail("ssoEmailDomains", '["*"] lets in every account your provider has (for Google: every Gmail user); '
                                     "name your domains or set ssoAllowedGroups, or set "
                                     f"{read.key('ssoAllowAnyAccount')} to true to accept that")
    if not sso_enabled and not unauthenticated:
        read.fail("ssoEnabled", f"an Ingress without SSO exposes MLflow to anyone who reaches {host}; enable SSO, or set "
                                f"{read.key('allowUnauthenticatedIngress')} to true to accept that")
    ingress_class = read.string("ingressClass", check=dns_label_problem)
    tls_cluster_issuer = read.optional("ingressTlsClusterIssuer", check=dns_label_problem)
    tls_secret = read.optional("ingressTlsSecret", check=dns_label_problem)
    through_gateway = read.string("frontDoor", allowed=FRONT_DOORS) == "gateway"
    gateway = _gateway(read, required=through_gateway)
    if through_gateway and (tls_cluster_issuer or tls_secret):
        read.fail("ingressTlsClusterIssuer" if tls_cluster_issuer else "ingressTlsSecret",
                  "TLS is the Gateway's (its listener's certificateRefs) with frontDoor gateway: leave it empty")
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
        max_body_size=f"{int(parse_quantity(tmp_size) / 2**20)}m",
        gateway=gateway if through_gateway else None,
    )


def _gateway(read: ConfigReader, required: bool) -> GatewayRef | None:
    name = read.optional("gatewayName", check=dns_label_problem)
    namespace = read.optional("gatewayNamespace", check=dns_label_problem)
    section = read.optional("gatewaySectionName", check=dns_label_problem)
    if required and not name:
        read.fail("gatewayName", "is required with frontDoor gateway: the Gateway the HTTPRoute attaches to")
    return GatewayRef(name=name, namespace=namespace, section_name=section) if name else None


def _sso(read: ConfigReader) -> OidcSso:
    issuer = read.optional("ssoIssuerUrl", check=https_url_problem)
    client_id = read.optional("ssoClientId")
    client_secret = read.secret("ssoClientSecret")
    domains = read.string_list("ssoEmailDomains")
    groups = read.string_list("ssoAllowedGroups")
    for key, value in (("ssoIssuerUrl", issuer), ("ssoClientId", client_id), ("ssoClientSecret", client_secret)):
        if not value:
            read.fail(key, "is required while ssoEnabled is true and ingressHost is set"
                      + (" (set it with --secret)" if key == "ssoClientSecret" else ""))
    if not (domains or groups):
        read.fail("ssoEmailDomains", "set ssoEmailDomains (e.g. [\"example.com\"], or [\"*\"] for every account "
                                     "of the provider) or ssoAllowedGroups")
    return OidcSso(issuer_url=issuer or "", client_id=client_id or "", client_secret=client_secret or "",
                   email_domains=domains, allowed_groups=groups, image=read.image("oauth2ProxyImage", OAUTH2_PROXY_IMAGE))
