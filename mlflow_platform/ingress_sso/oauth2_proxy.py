"""oauth2-proxy: MLflow's reverse proxy, which signs people in with the OIDC provider and checks programs' tokens."""

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlflow_platform.ingress_sso.args import OAUTH2_PROXY_PORT, IngressSsoArgs, OidcSso
from mlflow_platform.kube.disruption import one_at_a_time
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context, secret_files
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.kube.scanner import scanner_skips
from mlflow_platform.kube.service import cluster_ip_service
from mlflow_platform.kube.timeouts import OAUTH2_PROXY_IMAGE_MEGABYTES, await_timeout, probe_budget_seconds
from mlflow_platform.versions import OAUTH2_PROXY_UID

SECRETS_DIR = "/etc/oauth2-proxy/secrets"
PROGRAMS_FILE = "allowed-programs"


def oauth2_proxy(parent: pulumi.Resource, name: str, args: IngressSsoArgs, sso: OidcSso) -> k8s.core.v1.Service:
    """oauth2-proxy (OIDC) with its Secret, PDB and Service; the Ingress routes every path to it."""
    child = pulumi.ResourceOptions(parent=parent)
    proxy = f"{name}-oauth2-proxy"
    labels = standard_labels("oauth2-proxy", proxy, "sso")
    selector = selector_labels("oauth2-proxy", proxy, "sso")
    metadata = {"namespace": args.namespace, "labels": labels}
    # oauth2-proxy wants a cookie secret of exactly 16, 24 or 32 bytes.
    programs = "".join(f"{program}\n" for program in sso.allowed_programs)
    cookie = random.RandomPassword(f"{proxy}-cookie-secret", length=32, special=False, opts=child)
    secret = k8s.core.v1.Secret(
        proxy,
        metadata={**metadata, "name": proxy},
        type="Opaque",
        string_data={"client-secret": pulumi.Output.secret(sso.client_secret), "cookie-secret": cookie.result,
                     **({PROGRAMS_FILE: programs} if programs else {})},
        opts=child,
    )
    flags = [
        "--provider=oidc",
        pulumi.Output.concat("--client-id=", sso.client_id),
        # Secrets as files, not environment variables: both flags are in v7.15 (pkg/apis/options/cookie.go
        # GetSecret reads --cookie-secret-file; --client-secret-file is older). The cookie file holds the 32
        # characters themselves, which oauth2-proxy takes as a 32-byte secret.
        f"--client-secret-file={SECRETS_DIR}/client-secret",
        f"--cookie-secret-file={SECRETS_DIR}/cookie-secret",
        pulumi.Output.concat("--oidc-issuer-url=", sso.issuer_url),
        f"--http-address=0.0.0.0:{OAUTH2_PROXY_PORT}",
        # Under MLflow's prefix its own pages (sign-in, callback) move there too: the route takes only that path.
        # --proxy-prefix, default /oauth2 (docs/docs/configuration/overview.md); /ping and /ready keep their paths.
        *([f"--proxy-prefix={args.path_prefix}/oauth2"] if args.path_prefix else []),
        pulumi.Output.concat("--redirect-url=", args.url_with(f"{args.path_prefix}/oauth2/callback")),
        pulumi.Output.concat("--whitelist-domain=", args.host),
        pulumi.Output.concat("--cookie-domain=", args.host),
        f"--cookie-secure={'true' if args.tls else 'false'}",
        "--reverse-proxy=true",
        "--skip-provider-button=true",
        pulumi.Output.format("--upstream=http://{0}.{1}.svc.cluster.local:{2}/", args.service_name, args.namespace,
                             args.service_port),
        # The requests that submit server-side jobs go to the jobs Service. An upstream's path is the prefix it
        # takes; the request path is passed on whole (pkg/upstream/http.go newHTTPUpstreamProxy clears the
        # upstream's path) and the longest prefix wins (pkg/upstream/proxy.go sortByPathLongest).
        *(pulumi.Output.format("--upstream=http://{0}.{1}.svc.cluster.local:{2}{3}", args.jobs_service_name,
                               args.namespace, args.service_port, route)
          for route in (args.job_routes if args.jobs_service_name is not None else ())),
        # The signed-in user's ID token, or a program's bearer JWT, goes on to MLflow as `Authorization:
        # Bearer`; a client's own Authorization header is stripped first (pkg/middleware/headers.go,
        # newStripHeaders). MLflow's auth app verifies the token and never trusts a plain header
        # (mlflow_platform/mlflow_server/mlflow_platform_auth.py).
        "--pass-authorization-header=true",
        "--skip-jwt-bearer-tokens=true",
        # API calls without a session get 401, not a redirect to the sign-in page a program cannot follow.
        f"--api-route=^{args.path_prefix}/(api|ajax-api)/",
        # The default (30 s) counts from the end of the request body: MLflow answers large uploads later.
        f"--upstream-timeout={args.timeout_seconds}s",
        *(f"--extra-jwt-issuers={issuer}" for issuer in sso.program_issuers),
        # Sessions are re-validated with the provider (a deprovisioned user is out within the refresh), and
        # the authorization code is bound to this proxy with PKCE.
        f"--cookie-refresh={sso.cookie_refresh}",
        "--code-challenge-method=S256",
        *(f"--email-domain={domain}" for domain in sso.email_domains),
        *(f"--allowed-group={group}" for group in sso.allowed_groups),
        # A bearer token without an e-mail gets its sub as the e-mail (pkg/apis/middleware/session.go,
        # CreateTokenToSessionFunc; providers/oidc.go, CreateSessionFromToken), which the domains never match
        # (validator.go, isEmailValidWithDomains wants one '@'); the file's values pass besides (UserMap.IsValid,
        # both sides lower-cased). A new list reaches running pods with the Secret volume's update: oauth2-proxy
        # watches the file through the symlink swap (pkg/watcher/watcher.go, filterEvent).
        *([f"--authenticated-emails-file={SECRETS_DIR}/{PROGRAMS_FILE}"] if programs else []),
    ]
    if not sso.email_domains:
        flags.append("--email-domain=*")  # the group check decides
    probe = {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 10}
    probes = {"livenessProbe": probe, "readinessProbe": {**probe, "httpGet": {"path": "/ready", "port": "http"}}}
    k8s.apps.v1.Deployment(
        proxy,
        metadata={**metadata, "name": proxy, "annotations": scanner_skips({}, (sso.image,))},
        spec={
            "replicas": sso.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": args.pods.metadata(labels),
                "spec": {
                    **args.pods.spec(),
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(OAUTH2_PROXY_UID),
                    "containers": [{
                        "name": "oauth2-proxy",
                        **image_fields(sso.image),
                        "args": flags,
                        "ports": [{"name": "http", "containerPort": OAUTH2_PROXY_PORT}],
                        "resources": args.sizes.of("oauth2Proxy"),
                        "securityContext": container_security_context(),
                        **probes,
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                                         {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True}],
                    }],
                    "volumes": [empty_dir("tmp", "16Mi"), secret_files("secrets", secret.metadata.name)],
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, custom_timeouts=await_timeout(
            OAUTH2_PROXY_IMAGE_MEGABYTES, probe_budget_seconds(probes))),
    )
    # Both replicas are never drained at once: without them nobody reaches MLflow.
    one_at_a_time(proxy, metadata, selector, parent)
    return cluster_ip_service(proxy, metadata, selector, {"http": OAUTH2_PROXY_PORT}, parent)
