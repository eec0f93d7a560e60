"""IngressSSO: TLS, oauth2-proxy in front of every request, and no 403 from MLflow's host check behind it."""

import json
from typing import Any

import pytest
from test_hostile_config import assert_refused

from conftest import (
    CLOUDFLARE_FRONT_DOOR,
    DEPLOYMENT,
    PROD_SECRETS,
    SECRET,
    SERVICE,
    container,
    env_of,
    flag_value,
    mounted_secret_files,
)
from harness import ProgramRun, is_secret, run_program
from settings import ConfigError

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NGINX = "nginx.ingress.kubernetes.io"


def annotations(run: ProgramRun, name: str) -> dict[str, str]:
    result: dict[str, str] = run.one(INGRESS, name).plain_inputs["metadata"]["annotations"]
    return result


def server_option(run: ProgramRun, flag: str) -> str:
    args = container(run.one(DEPLOYMENT, "mlflow"), "mlflow")["args"]
    return str(args[args.index(flag) + 1])


def prod_error(overrides: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        run_program("prod", {**PROD_SECRETS, **overrides}, preview=True)
    return str(caught.value)


class TestDev:
    def test_local_host_without_tls_or_sso(self, dev: ProgramRun) -> None:
        spec = dev.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]
        assert spec["ingressClassName"] == "nginx"
        (rule,) = spec["rules"]
        assert rule["host"] == "mlflow.localtest.me"
        assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "mlflow", "port": {"number": 5000}}
        assert "tls" not in spec
        assert not any(key.startswith(f"{NGINX}/auth-") for key in annotations(dev, "mlflow-ingress"))
        assert not [r for r in dev.resources if "oauth2-proxy" in r.name]

    def test_body_size_and_timeouts_fit_large_artifacts(self, dev: ProgramRun) -> None:
        notes = annotations(dev, "mlflow-ingress")
        assert notes[f"{NGINX}/proxy-body-size"] == "2048m"  # serverTmpSize 2Gi: what the proxy can buffer
        assert notes[f"{NGINX}/proxy-request-buffering"] == "off"
        assert int(notes[f"{NGINX}/proxy-read-timeout"]) >= 600

    def test_ingress_host_is_allowed_and_its_origin_may_call_the_api(self, dev: ProgramRun) -> None:
        assert "mlflow.localtest.me" in server_option(dev, "--allowed-hosts").split(",")
        assert server_option(dev, "--cors-allowed-origins") == "http://mlflow.localtest.me"
        assert dev.stack_outputs["trackingUrl"] == "http://mlflow.localtest.me"


class TestProd:
    def test_tls_from_cert_manager(self, prod: ProgramRun) -> None:
        spec = prod.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]
        assert spec["tls"] == [{"hosts": ["mlflow.example.com"], "secretName": "mlflow-ingress-tls"}]
        notes = annotations(prod, "mlflow-ingress")
        assert notes["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
        assert notes[f"{NGINX}/ssl-redirect"] == "true"
        assert prod.stack_outputs["trackingUrl"] == "https://mlflow.example.com"

    def test_every_request_goes_through_oauth2_proxy_to_the_server(self, prod: ProgramRun) -> None:
        """oauth2-proxy is MLflow's reverse proxy: the Ingress routes every path to it, with no controller-specific
        auth annotations, and it proxies to the MLflow Service."""
        spec = prod.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]
        (rule,) = spec["rules"]
        (path,) = rule["http"]["paths"]
        assert (rule["host"], path["path"]) == ("mlflow.example.com", "/")
        assert path["backend"]["service"] == {"name": "mlflow-ingress-oauth2-proxy", "port": {"number": 4180}}
        assert not any(key.endswith(("/auth-url", "/auth-signin")) for key in annotations(prod, "mlflow-ingress"))
        assert len(prod.of_type(INGRESS)) == 1
        flags = container(prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"]
        assert "--upstream=http://mlflow.mlflow.svc.cluster.local:5000/" in flags
        assert "--upstream-timeout=900s" in flags  # not the default 30 s: large uploads are answered late
        assert "--api-route=^/(api|ajax-api)/" in flags
        assert prod.one(SERVICE, "mlflow-ingress-oauth2-proxy").plain_inputs["spec"]["ports"][0]["port"] == 4180

    def test_oauth2_proxy_is_pinned_and_configured_for_the_provider(self, prod: ProgramRun) -> None:
        proxy = container(prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))
        assert proxy["image"] == "quay.io/oauth2-proxy/oauth2-proxy:v7.15.2"
        for flag in ("--provider=oidc", "--oidc-issuer-url=https://accounts.google.com",
                     "--redirect-url=https://mlflow.example.com/oauth2/callback", "--email-domain=example.com",
                     "--cookie-secure=true", "--reverse-proxy=true"):
            assert flag in proxy["args"]
        # Secrets are files from the Secret, never arguments or environment variables (checkov CKV_K8S_35).
        files = mounted_secret_files(prod, prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))
        assert files[flag_value(proxy, "--client-secret-file")] == ("mlflow-ingress-oauth2-proxy", "client-secret")
        assert files[flag_value(proxy, "--cookie-secret-file")] == ("mlflow-ingress-oauth2-proxy", "cookie-secret")
        assert "env" not in proxy
        assert "--client-id=mlflow-platform" in proxy["args"]  # Pulumi.prod.yaml's ssoClientId: not a secret

    def test_client_and_cookie_secrets_stay_secret(self, prod: ProgramRun) -> None:
        secret = prod.one(SECRET, "mlflow-ingress-oauth2-proxy")
        assert is_secret(secret.inputs["stringData"])
        data = secret.plain_inputs["stringData"]
        assert data["client-secret"] == "placeholder-for-mlflow-platform:ssoClientSecret"
        assert len(data["cookie-secret"]) == 32  # oauth2-proxy accepts 16, 24 or 32 bytes
        cookie = prod.one("random:index/randomPassword:RandomPassword", "mlflow-ingress-oauth2-proxy-cookie-secret")
        assert cookie.plain_inputs["length"] == 32

    def test_ingress_host_is_allowed_by_the_server(self, prod: ProgramRun) -> None:
        assert "mlflow.example.com" in server_option(prod, "--allowed-hosts").split(",")
        assert server_option(prod, "--cors-allowed-origins") == "https://mlflow.example.com"


class TestRefusals:
    def test_an_ingress_without_sso_needs_an_explicit_yes(self) -> None:
        message = prod_error({"ssoEnabled": False})
        assert "mlflow-platform:ssoEnabled: an Ingress without SSO exposes MLflow" in message
        assert "mlflow-platform:allowUnauthenticatedIngress" in message
        run_program("prod", {"ssoEnabled": False, "allowUnauthenticatedIngress": True})

    @pytest.mark.parametrize("key", ["ssoIssuerUrl", "ssoClientId"])
    def test_sso_without_issuer_or_client_id_is_refused(self, key: str) -> None:
        assert f"mlflow-platform:{key}: is required while ssoEnabled is true" in prod_error({key: ""})

    def test_the_example_prod_file_asks_for_the_client_secret(self) -> None:
        with pytest.raises(ConfigError, match=r"ssoClientSecret: is required .* \(set it with --secret\)"):
            run_program("prod", preview=True)

    def test_a_plain_text_client_secret_is_refused(self) -> None:
        assert "ssoClientSecret: must be set as a secret" in prod_error({"ssoClientSecret": "plain"})

    def test_someone_must_be_allowed_in(self) -> None:
        assert "mlflow-platform:ssoEmailDomains: set ssoEmailDomains" in prod_error({"ssoEmailDomains": []})

    def test_issuer_must_be_https(self) -> None:
        assert "is not an https:// URL" in prod_error({"ssoIssuerUrl": "http://idp.example.com"})


class TestGatewayApiFrontDoor:
    """frontDoor gateway: an HTTPRoute on a Gateway someone else runs, instead of an Ingress."""

    OVERRIDES = {**PROD_SECRETS, "frontDoor": "gateway", "gatewayName": "public", "gatewayNamespace": "gateways",
                 "gatewaySectionName": "https", "ingressTlsClusterIssuer": None}

    def test_the_route_sends_every_path_to_oauth2_proxy(self) -> None:
        run = run_program("prod", self.OVERRIDES)
        assert not run.of_type(INGRESS)
        (route,) = [r for r in run.resources if r.type == "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"]
        spec = route.plain_inputs["spec"]
        assert spec["parentRefs"] == [{"name": "public", "namespace": "gateways", "sectionName": "https"}]
        assert spec["hostnames"] == ["mlflow.example.com"]
        (rule,) = spec["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
        assert rule["backendRefs"] == [{"name": "mlflow-ingress-oauth2-proxy", "port": 4180}]
        assert rule["timeouts"] == {"request": "900s"}
        assert run.stack_outputs["trackingUrl"] == "https://mlflow.example.com"  # TLS on the Gateway's listener

    def test_a_gateway_needs_a_name_and_keeps_tls_to_itself(self) -> None:
        message = prod_error({"frontDoor": "gateway"})
        assert "mlflow-platform:gatewayName: is required with frontDoor gateway" in message
        assert "mlflow-platform:ingressTlsClusterIssuer: TLS is the Gateway's" in message

    def test_an_unknown_front_door_is_refused(self) -> None:
        assert "mlflow-platform:frontDoor: 'traefik' is not allowed; use one of: ingress, gateway" in prod_error(
            {"frontDoor": "traefik"})


class TestCloudflareFrontDoor:
    """frontDoor cloudflare: a cloudflared tunnel, no Ingress and no oauth2-proxy; Access signs people in."""

    OVERRIDES = CLOUDFLARE_FRONT_DOOR

    def test_connectors_read_the_tunnel_token_from_a_secret_and_nothing_is_public(self) -> None:
        run = run_program("prod", self.OVERRIDES)
        assert not run.of_type(INGRESS)
        assert not [r for r in run.resources if "oauth2-proxy" in r.name]
        tunnel = run.one(DEPLOYMENT, "mlflow-ingress-cloudflared")
        assert tunnel.plain_inputs["spec"]["replicas"] == 2
        connector = container(tunnel)
        assert connector["image"] == "docker.io/cloudflare/cloudflared:2026.8.2"
        assert connector["args"] == ["tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000", "run"]
        token_file = env_of(connector)["TUNNEL_TOKEN_FILE"]["value"]
        assert mounted_secret_files(run, tunnel)[token_file] == ("mlflow-ingress-cloudflared", "tunnel-token")
        assert is_secret(run.one(SECRET, "mlflow-ingress-cloudflared").inputs["stringData"])
        assert connector["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
        assert run.stack_outputs["trackingUrl"] == "https://mlflow.example.com"

    def test_mlflow_trusts_access_jwts_only_in_their_header(self) -> None:
        run = run_program("prod", self.OVERRIDES)
        data = run.one("kubernetes:core/v1:ConfigMap", "mlflow-auth-module").plain_inputs["data"]
        (access,) = [i for i in json.loads(data["identity.json"])["issuers"]
                     if i["issuer"] == "https://acme.cloudflareaccess.com"]
        assert access == {"issuer": "https://acme.cloudflareaccess.com", "audiences": ["aud-tag"],
                          "header": "Cf-Access-Jwt-Assertion", "username_claims": ["email", "common_name"],
                          "groups_claim": "groups", "jwks_uri": "https://acme.cloudflareaccess.com/cdn-cgi/access/certs"}

    def test_the_server_admits_the_connectors_and_the_connectors_admit_nobody(self) -> None:
        run = run_program("prod", self.OVERRIDES)
        policies = {r.name: r.plain_inputs["spec"] for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
        front = policies["mlflow-network-server"]["ingress"][0]["from"][0]
        labels = run.one(DEPLOYMENT, "mlflow-ingress-cloudflared").plain_inputs["spec"]["template"]["metadata"]["labels"]
        assert front["podSelector"]["matchLabels"].items() <= labels.items()
        assert policies["mlflow-network-cloudflared"]["ingress"] == []

    def test_what_cloudflare_needs_is_asked_for_at_preview(self) -> None:
        message = prod_error({"frontDoor": "cloudflare"})
        for key in ("cloudflareTeamDomain", "cloudflareAudienceTag", "cloudflareTunnelToken"):
            assert f"mlflow-platform:{key}: is required with frontDoor cloudflare" in message
        assert "mlflow-platform:ssoEnabled: Cloudflare Access signs people in" in message
        assert "mlflow-platform:ingressTlsClusterIssuer: TLS is Cloudflare's" in message


JOBS = {"serverJobExecution": True, "postgresMaxConnections": 1100}
JOB_ROUTE = "/ajax-api/3.0/mlflow/scorer/invoke"


class TestJobSubmissionsReachTheJobsPod:
    """serverJobExecution: every front door sends the routes that submit jobs (JOB_ROUTES) to the jobs Service."""

    def test_dev_ingress_routes_them_by_path(self) -> None:
        from mlflow_platform.mlflow_server import JOB_ROUTES

        run = run_program("dev", JOBS)
        (rule,) = run.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]["rules"]
        backends = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
        assert backends == {"/": "mlflow", **{route: "mlflow-jobs" for route in JOB_ROUTES}}
        assert {p["pathType"] for p in rule["http"]["paths"]} == {"Prefix"}

    def test_oauth2_proxy_routes_them_by_upstream_path(self) -> None:
        """An upstream's path is its route prefix; the request path goes on whole (oauth2-proxy
        pkg/upstream/http.go newHTTPUpstreamProxy; longest prefix first: proxy.go sortByPathLongest)."""
        run = run_program("prod", {**PROD_SECRETS, **JOBS, "postgresMaxConnections": 2000})
        args = container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))["args"]
        upstreams = [a.removeprefix("--upstream=") for a in args if a.startswith("--upstream=")]
        assert "http://mlflow.mlflow.svc.cluster.local:5000/" in upstreams
        assert f"http://mlflow-jobs.mlflow.svc.cluster.local:5000{JOB_ROUTE}" in upstreams
        # The Ingress still sends everything to oauth2-proxy, which does the routing.
        (rule,) = run.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]["rules"]
        assert [p["path"] for p in rule["http"]["paths"]] == ["/"]

    def test_an_httproute_straight_to_mlflow_routes_them_by_path_prefix(self) -> None:
        run = run_program("dev", {**JOBS, "frontDoor": "gateway", "gatewayName": "public"})
        (route,) = [r for r in run.resources if r.type == "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"]
        everything, jobs = route.plain_inputs["spec"]["rules"]
        assert everything["backendRefs"] == [{"name": "mlflow", "port": 5000}]
        assert jobs["backendRefs"] == [{"name": "mlflow-jobs", "port": 5000}]
        assert {"path": {"type": "PathPrefix", "value": JOB_ROUTE}} in jobs["matches"]

    def test_a_cloudflare_tunnel_cannot_route_them(self) -> None:
        message = prod_error({**JOBS, **TestCloudflareFrontDoor.OVERRIDES})
        assert "mlflow-platform:serverJobExecution: the jobs pod takes the requests that submit jobs" in message


class TestIngressAnnotations:
    """ingressAnnotations: another controller's settings on the Ingress, e.g. the AWS Load Balancer Controller's
    (its annotations reference, docs/guide/ingress/annotations.md), beside the platform's own."""

    ALB = {"alb.ingress.kubernetes.io/scheme": "internet-facing", "alb.ingress.kubernetes.io/target-type": "ip",
           # The ALB's health check defaults to path "/" and success code 200 (the controller's annotations.md).
           # Behind SSO its targets are oauth2-proxy, which redirects "/" to sign in; "/ping - returns a 200 OK
           # response, which is intended for use with health checks" (oauth2-proxy docs, features/endpoints).
           "alb.ingress.kubernetes.io/healthcheck-path": "/ping"}

    def test_an_alb_ingress_gets_them_and_keeps_the_platforms(self) -> None:
        """docs/front-doors.md's recipe: TLS from ACM, found by the controller from the Ingress's tls hosts."""
        run = run_program("prod", {**PROD_SECRETS, "ingressClass": "alb", "ingressAnnotations": self.ALB,
                                   "ingressTlsClusterIssuer": "", "ingressTlsSecret": "acm"})
        notes = annotations(run, "mlflow-ingress")
        assert self.ALB.items() <= notes.items() and f"{NGINX}/ssl-redirect" in notes
        spec = run.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]
        assert (spec["ingressClassName"], spec["tls"]) == ("alb", [{"hosts": ["mlflow.example.com"], "secretName": "acm"}])
        # People arrive over https: oauth2-proxy sends them back there, with secure cookies.
        proxy = container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"), "oauth2-proxy")["args"]
        assert {"--redirect-url=https://mlflow.example.com/oauth2/callback", "--cookie-secure=true"} <= set(proxy)

    def test_every_annotation_not_given_is_one_the_platform_declares(self, dev: ProgramRun, prod: ProgramRun) -> None:
        from mlflow_platform.ingress_sso.args import PLATFORM_ANNOTATIONS
        for run in (dev, prod):
            assert set(annotations(run, "mlflow-ingress")) <= set(PLATFORM_ANNOTATIONS)

    @pytest.mark.parametrize(("annotation", "expected"), [
        ({f"{NGINX}/proxy-body-size": "1m"}, "is set by the platform (the server's /tmp size)"),
        ({"cert-manager.io/cluster-issuer": "other"}, "is set by the platform (tls_cluster_issuer)"),
        ({"bad key!": "x"}, "is not a label or annotation key"),
        ({"alb.ingress.kubernetes.io/scheme": 1}, "1 is not a string"),
    ])
    def test_refused_at_preview(self, annotation: dict[str, Any], expected: str) -> None:
        assert_refused("dev", {"ingressAnnotations": annotation}, "ingressAnnotations", expected)

    def test_they_need_an_ingress(self) -> None:
        assert_refused("dev", {"frontDoor": "gateway", "gatewayName": "shared", "ingressAnnotations": self.ALB},
                       "ingressAnnotations", "frontDoor gateway declares no Ingress")

    def test_the_component_refuses_them_too_for_programs_that_use_it_directly(self) -> None:
        from mlflow_platform import GatewayRef, IngressSsoArgs
        with pytest.raises(ValueError, match=r"'cert-manager.io/cluster-issuer' is set by the platform"):
            IngressSsoArgs(namespace="mlflow", host="mlflow.example.com", service_name="mlflow",
                           annotations={"cert-manager.io/cluster-issuer": "other"})
        with pytest.raises(ValueError, match="there is no Ingress with a gateway"):
            IngressSsoArgs(namespace="mlflow", host="mlflow.example.com", service_name="mlflow",
                           annotations=self.ALB, gateway=GatewayRef(name="shared"))
