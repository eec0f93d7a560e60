"""IngressSSO: TLS, oauth2-proxy in front of every request, and no 403 from MLflow's host check behind it."""

import json
import re
from typing import Any

import pytest
from test_hostile_config import assert_refused

from conftest import (
    AUD_TAG,
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
from harness import ROOT, ProgramRun, is_secret, run_program
from mlflow_platform.kube.labels import selector_labels
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


GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
CLIENT_SETTINGS = "kubernetes:gateway.nginx.org/v1alpha1:ClientSettingsPolicy"
PROXY_SETTINGS = "kubernetes:gateway.nginx.org/v1alpha1:ProxySettingsPolicy"
LOAD_BALANCER = "kubernetes:gateway.k8s.aws/v1:LoadBalancerConfiguration"
TARGET_GROUP = "kubernetes:gateway.k8s.aws/v1:TargetGroupConfiguration"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# The Ingress front door, for clusters that run an Ingress controller: no Gateway keys.
DEV_INGRESS = {"frontDoor": "ingress", "gatewayClassName": None, "ingressClass": "traefik"}
PROD_INGRESS = {**PROD_SECRETS, "frontDoor": "ingress", "gatewayClassName": None, "ingressClass": "traefik",
                "ingressTlsClusterIssuer": "letsencrypt-prod"}


def route_spec(run: ProgramRun) -> dict[str, Any]:
    spec: dict[str, Any] = run.one(HTTP_ROUTE).plain_inputs["spec"]
    return spec


class TestDevGatewayOnNginxGatewayFabric:
    """dev: the stack's own Gateway of class nginx (NGINX Gateway Fabric, which `make dev` installs), its data plane in
    nginx-gateway, and an HTTPRoute straight to MLflow."""

    def test_a_plain_http_gateway_for_the_local_host_and_no_sso(self, dev: ProgramRun) -> None:
        gateway = dev.one(GATEWAY, "mlflow-ingress-gateway").plain_inputs
        assert (gateway["metadata"]["name"], gateway["metadata"]["namespace"]) == ("mlflow", "nginx-gateway")
        assert gateway["spec"]["gatewayClassName"] == "nginx"
        (listener,) = gateway["spec"]["listeners"]
        assert {k: listener[k] for k in ("name", "protocol", "port", "hostname")} == {
            "name": "http", "protocol": "HTTP", "port": 80, "hostname": "mlflow.localtest.me"}
        assert "tls" not in listener
        assert not dev.of_type(INGRESS)
        assert not [r for r in dev.resources if "oauth2-proxy" in r.name]

    def test_the_gateway_admits_routes_from_the_platforms_namespace_only(self, dev: ProgramRun) -> None:
        (listener,) = dev.one(GATEWAY).plain_inputs["spec"]["listeners"]
        assert listener["allowedRoutes"] == {"namespaces": {
            "from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}}

    def test_the_route_sends_every_path_of_the_host_to_mlflow(self, dev: ProgramRun) -> None:
        spec = route_spec(dev)
        assert spec["parentRefs"] == [{"name": "mlflow", "namespace": "nginx-gateway"}]
        assert spec["hostnames"] == ["mlflow.localtest.me"]
        (rule,) = spec["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
        assert rule["backendRefs"] == [{"name": "mlflow", "port": 5000}]

    def test_nginx_lets_artifacts_through_with_its_own_policies(self, dev: ProgramRun) -> None:
        """nginx refuses bodies over 1 MB and cuts a proxied read after 60 s by default; NGINX Gateway Fabric 2.6
        ignores HTTPRoute timeouts (internal/controller/state/graph/httproute.go, checkForUnsupportedHTTPFields:
        a warning, the rule kept), so its ClientSettingsPolicy and ProxySettingsPolicy set them on the route."""
        target = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "mlflow-ingress"}
        client = dev.one(CLIENT_SETTINGS).plain_inputs["spec"]
        assert client == {"targetRef": target, "body": {"maxSize": "2048m", "timeout": "900s"}}  # serverTmpSize 2Gi
        proxy = dev.one(PROXY_SETTINGS).plain_inputs["spec"]
        assert proxy == {"targetRefs": [target], "buffering": {"disable": True},
                         "timeout": {"read": "900s", "send": "900s"}}
        assert "timeouts" not in route_spec(dev)["rules"][0]

    def test_up_waits_until_the_gateway_is_programmed(self, dev: ProgramRun) -> None:
        """A custom resource is ready once accepted unless pulumi.com/waitFor names a condition (pulumi-kubernetes
        provider/pkg/metadata/overrides.go, ReadyCondition); Programmed is the Gateway's standard condition."""
        annotations = dev.one(GATEWAY).plain_inputs["metadata"]["annotations"]
        assert annotations == {"pulumi.com/waitFor": "condition=Programmed"}

    def test_the_network_policies_must_admit_the_gateways_namespace(self) -> None:
        """NGF provisions each Gateway's nginx Deployment and Service in the Gateway's own namespace
        (internal/controller/provisioner/objects.go)."""
        assert_refused("dev", {"gatewayNamespace": "edge"}, "ingressControllerNamespace",
                       "runs the data plane of the stack's Gateway in the Gateway's namespace ('edge'")
        run_program("dev", {"gatewayNamespace": "edge", "ingressControllerNamespace": "edge"})

    def test_the_data_plane_may_reach_mlflow(self, dev: ProgramRun) -> None:
        server = dev.one(NETWORK_POLICY, "mlflow-network-server").plain_inputs["spec"]
        peers = server["ingress"][0]["from"]
        assert {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                                             "values": ["nginx-gateway"]}]}} in peers

    def test_ingress_host_is_allowed_and_its_origin_may_call_the_api(self, dev: ProgramRun) -> None:
        assert "mlflow.localtest.me" in server_option(dev, "--allowed-hosts").split(",")
        assert server_option(dev, "--cors-allowed-origins") == "http://mlflow.localtest.me"
        assert dev.stack_outputs["trackingUrl"] == "http://mlflow.localtest.me"


class TestProdGatewayOnAnAlb:
    """prod: the stack's own Gateway of class alb (the AWS Load Balancer Controller v3, Gateway API GA), whose ALB
    ends TLS with an ACM certificate and sends to oauth2-proxy's pods (docs/guide/gateway/l7gateway.md)."""

    def test_an_https_listener_whose_certificate_is_acms(self, prod: ProgramRun) -> None:
        """certificateRefs are not supported by the ALB: an ACM certificate is discovered for the listener's
        hostname, or named in the LoadBalancerConfiguration (docs/guide/gateway/gateway.md, "Certificate
        Discovery for secure listeners")."""
        gateway = prod.one(GATEWAY).plain_inputs
        assert (gateway["metadata"]["namespace"], gateway["spec"]["gatewayClassName"]) == ("mlflow", "alb")
        (listener,) = gateway["spec"]["listeners"]
        assert (listener["protocol"], listener["port"], listener["hostname"]) == ("HTTPS", 443, "mlflow.example.com")
        assert "tls" not in listener
        assert prod.stack_outputs["trackingUrl"] == "https://mlflow.example.com"

    def test_the_load_balancer_configuration_is_the_gateways(self, prod: ProgramRun) -> None:
        gateway = prod.one(GATEWAY).plain_inputs
        config = prod.one(LOAD_BALANCER).plain_inputs
        assert gateway["spec"]["infrastructure"] == {"parametersRef": {
            "group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration", "name": config["metadata"]["name"]}}
        assert config["metadata"]["namespace"] == gateway["metadata"]["namespace"]
        # The ALB's idle timeout (60 s by default) as long as the longest transfer oauth2-proxy allows.
        assert config["spec"] == {"scheme": "internet-facing", "loadBalancerAttributes": [
            {"key": "idle_timeout.timeout_seconds", "value": "900"}]}

    def test_every_request_goes_to_oauth2_proxys_pods(self, prod: ProgramRun) -> None:
        (rule,) = route_spec(prod)["rules"]
        assert rule["backendRefs"] == [{"name": "mlflow-ingress-oauth2-proxy", "port": 4180}]
        assert "timeouts" not in rule  # the ALB has none (l7gateway.md: HTTPRouteTimeouts unsupported)
        targets = prod.one(TARGET_GROUP).plain_inputs["spec"]
        assert targets["targetReference"] == {"name": "mlflow-ingress-oauth2-proxy"}
        assert targets["defaultConfiguration"]["targetType"] == "ip"

    def test_the_alb_checks_oauth2_proxy_on_ping(self, prod: ProgramRun) -> None:
        """The ALB's default health check is "/" (pkg/gateway/model/model_build_target_group.go), which oauth2-proxy
        answers with a sign-in redirect; /ping answers 200 with no session (oauth2-proxy's endpoints docs)."""
        health = prod.one(TARGET_GROUP).plain_inputs["spec"]["defaultConfiguration"]["healthCheckConfig"]
        assert health == {"healthCheckPath": "/ping", "healthCheckProtocol": "HTTP", "healthCheckPort": "traffic-port"}

    def test_the_alb_reaches_oauth2_proxy_from_the_vpc(self, prod: ProgramRun) -> None:
        """ip targets: the ALB connects to the pods from its subnets, in the cluster stack's VPC."""
        proxy = prod.one(NETWORK_POLICY, "mlflow-network-oauth2-proxy").plain_inputs["spec"]
        (rule,) = proxy["ingress"]
        assert {"ipBlock": {"cidr": "10.20.0.0/16"}} in rule["from"]
        assert rule["ports"] == [{"protocol": "TCP", "port": 4180}]

    def test_a_named_certificate_subnets_and_an_internal_scheme(self) -> None:
        arn = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
        run = run_program("prod", {**PROD_SECRETS, "albCertificateArn": arn, "albScheme": "internal",
                                   "albSubnetIds": ["subnet-0123456789abcdef0", "subnet-1234abcd"]})
        spec = run.one(LOAD_BALANCER).plain_inputs["spec"]
        assert spec["scheme"] == "internal"
        assert spec["loadBalancerSubnets"] == [{"identifier": "subnet-0123456789abcdef0"},
                                               {"identifier": "subnet-1234abcd"}]
        assert spec["listenerConfigurations"] == [{"protocolPort": "HTTPS:443", "defaultCertificate": arn}]

    def test_plain_http_on_the_alb_is_an_explicit_risk(self) -> None:
        assert_refused("prod", {**PROD_SECRETS, "albHttps": False}, "albHttps", "has no TLS (albHttps is false)")
        run = run_program("prod", {**PROD_SECRETS, "albHttps": False, "allowPlaintextIngress": True})
        (listener,) = run.one(GATEWAY).plain_inputs["spec"]["listeners"]
        assert (listener["protocol"], listener["port"]) == ("HTTP", 80)

    def test_the_ingress_host_is_allowed_by_the_server(self, prod: ProgramRun) -> None:
        assert "mlflow.example.com" in server_option(prod, "--allowed-hosts").split(",")
        assert server_option(prod, "--cors-allowed-origins") == "https://mlflow.example.com"


class TestOauth2Proxy:
    def test_it_proxies_every_request_to_the_server(self, prod: ProgramRun) -> None:
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


class TestIngressFrontDoor:
    """frontDoor ingress: an Ingress for clusters that run an Ingress controller (the class is the team's)."""

    def test_dev_local_host_without_tls(self) -> None:
        run = run_program("dev", DEV_INGRESS)
        spec = run.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]
        assert spec["ingressClassName"] == "traefik"
        (rule,) = spec["rules"]
        assert rule["host"] == "mlflow.localtest.me"
        assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "mlflow", "port": {"number": 5000}}
        assert "tls" not in spec
        assert not run.of_type(GATEWAY) and not run.of_type(HTTP_ROUTE)

    def test_without_a_class_the_clusters_default_class_serves_it(self) -> None:
        spec = run_program("dev", {**DEV_INGRESS, "ingressClass": None}).one(INGRESS).plain_inputs["spec"]
        assert "ingressClassName" not in spec

    def test_body_size_and_timeouts_fit_large_artifacts(self) -> None:
        notes = annotations(run_program("dev", DEV_INGRESS), "mlflow-ingress")
        assert notes[f"{NGINX}/proxy-body-size"] == "2048m"  # serverTmpSize 2Gi: what the proxy can buffer
        assert notes[f"{NGINX}/proxy-request-buffering"] == "off"
        assert int(notes[f"{NGINX}/proxy-read-timeout"]) >= 600

    def test_prod_tls_from_cert_manager_and_every_path_to_oauth2_proxy(self) -> None:
        run = run_program("prod", PROD_INGRESS)
        spec = run.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]
        assert spec["tls"] == [{"hosts": ["mlflow.example.com"], "secretName": "mlflow-ingress-tls"}]
        notes = annotations(run, "mlflow-ingress")
        assert notes["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
        assert notes[f"{NGINX}/ssl-redirect"] == "true"
        (rule,) = spec["rules"]
        (path,) = rule["http"]["paths"]
        assert (rule["host"], path["path"]) == ("mlflow.example.com", "/")
        assert path["backend"]["service"] == {"name": "mlflow-ingress-oauth2-proxy", "port": {"number": 4180}}
        assert not any(key.endswith(("/auth-url", "/auth-signin")) for key in notes)
        assert run.stack_outputs["trackingUrl"] == "https://mlflow.example.com"
        assert not run.of_type(GATEWAY)

    def test_gateway_keys_are_refused_with_it(self) -> None:
        assert_refused("dev", {**DEV_INGRESS, "gatewayClassName": "nginx"}, "gatewayClassName",
                       "is the Gateway's: set frontDoor gateway")
        assert_refused("dev", {"ingressClass": "traefik"}, "ingressClass", "frontDoor gateway declares no Ingress")


class TestRefusals:
    def test_an_ingress_without_sso_needs_an_explicit_yes(self) -> None:
        message = prod_error({"ssoEnabled": False})
        assert "mlflow-platform:ssoEnabled: an Ingress without SSO exposes MLflow" in message
        assert "mlflow-platform:allowUnauthenticatedIngress" in message
        # People then sign in with a provider of their own (authAdminIssuers: no front door names admins).
        run_program("prod", {"ssoEnabled": False, "allowUnauthenticatedIngress": True,
                             "authTrustedIssuers": ["https://login.example.com=mlflow"],
                             "authAdminIssuers": ["https://login.example.com"]})

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


class TestAnExistingGateway:
    """frontDoor gateway without gatewayClassName: an HTTPRoute on a Gateway someone else runs."""

    OVERRIDES = {**PROD_SECRETS, "gatewayClassName": None, "gatewayController": "other", "gatewayName": "public",
                 "gatewayNamespace": "gateways", "gatewaySectionName": "https"}

    def test_the_route_sends_every_path_to_oauth2_proxy(self) -> None:
        run = run_program("prod", self.OVERRIDES)
        assert not run.of_type(INGRESS) and not run.of_type(GATEWAY) and not run.of_type(LOAD_BALANCER)
        spec = route_spec(run)
        assert spec["parentRefs"] == [{"name": "public", "namespace": "gateways", "sectionName": "https"}]
        assert spec["hostnames"] == ["mlflow.example.com"]
        (rule,) = spec["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
        assert rule["backendRefs"] == [{"name": "mlflow-ingress-oauth2-proxy", "port": 4180}]
        # An implementation of unknown settings gets the standard request timeout (Extended support).
        assert rule["timeouts"] == {"request": "900s"}
        assert run.stack_outputs["trackingUrl"] == "https://mlflow.example.com"  # TLS on the Gateway's listener

    def test_an_existing_alb_gateway_gets_its_target_groups_only(self) -> None:
        run = run_program("prod", {**self.OVERRIDES, "gatewayController": "aws-alb"})
        assert run.one(TARGET_GROUP).plain_inputs["spec"]["targetReference"] == {"name": "mlflow-ingress-oauth2-proxy"}
        assert not run.of_type(LOAD_BALANCER) and not run.of_type(GATEWAY)

    def test_a_gateway_needs_a_name_or_a_class_and_keeps_tls_to_itself(self) -> None:
        message = prod_error({"gatewayClassName": None, "ingressTlsClusterIssuer": "letsencrypt-prod"})
        assert "mlflow-platform:gatewayName: frontDoor gateway needs a Gateway" in message
        message = prod_error({**self.OVERRIDES, "ingressTlsClusterIssuer": "letsencrypt-prod"})
        assert "mlflow-platform:ingressTlsClusterIssuer: TLS is the Gateway's" in message

    def test_an_unknown_front_door_is_refused(self) -> None:
        assert "mlflow-platform:frontDoor: 'traefik' is not allowed; use one of: gateway, ingress" in prod_error(
            {"frontDoor": "traefik"})


class TestGatewayRules:
    """What the Gateway keys and GatewayRef take, checked by rule at preview."""

    @pytest.mark.parametrize(("overrides", "key", "expected"), [
        ({"albCertificateArn": "arn:aws:iam::123456789012:role/x"}, "albCertificateArn", "is not an ACM certificate ARN"),
        ({"albSubnetIds": ["subnet-XYZ"]}, "albSubnetIds", "is not a subnet id"),
        ({"albScheme": "public"}, "albScheme", "'public' is not allowed; use one of: internet-facing, internal"),
        ({"gatewayController": "envoy"}, "gatewayController", "is not allowed; use one of: other"),
        ({"gatewaySectionName": "https"}, "gatewaySectionName", "picks a listener of an existing Gateway"),
        ({"gatewayController": "other", "albScheme": "internal"}, "albScheme", "configure the ALB of the stack's own"),
        ({"ingressTlsSecret": "mine"}, "ingressTlsSecret", "TLS is the ALB's, from ACM"),
        ({"albHttps": False, "albCertificateArn":
          "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
         "albCertificateArn", "is the HTTPS listener's"),
    ])
    def test_refused_at_preview(self, overrides: dict[str, Any], key: str, expected: str) -> None:
        assert_refused("prod", {**PROD_SECRETS, **overrides}, key, expected)

    def test_the_component_refuses_what_the_settings_refuse(self) -> None:
        from mlflow_platform import AlbSettings, GatewayRef
        with pytest.raises(ValueError, match="alb configures the ALB of a Gateway the component declares"):
            GatewayRef(name="public", alb=AlbSettings())
        with pytest.raises(ValueError, match="controller 'envoy' is not one of"):
            GatewayRef(name="public", controller="envoy")
        with pytest.raises(ValueError, match="is not a subnet id"):
            GatewayRef(name="mlflow", class_name="alb", controller="aws-alb", alb=AlbSettings(subnet_ids=("x",)))
        assert GatewayRef(name="mlflow", class_name="alb", controller="aws-alb").alb == AlbSettings()

    @pytest.mark.parametrize(("size", "expected"), [("2048m", "2048m"), ("20480m", "20g"), ("1g", "1024m"),
                                                    ("9999k", "9999k"), ("10000k", "9m"), ("512", "512")])
    def test_nginx_sizes_fit_nginx_gateway_fabrics_four_digits(self, size: str, expected: str) -> None:
        from mlflow_platform.ingress_sso.gateway import nginx_size
        assert nginx_size(size) == expected


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
        assert access == {"issuer": "https://acme.cloudflareaccess.com", "audiences": [AUD_TAG],
                          "header": "Cf-Access-Jwt-Assertion", "username_claims": ["email", "common_name"],
                          "groups_claim": "groups", "jwks_uri": "https://acme.cloudflareaccess.com/cdn-cgi/access/certs",
                          "grants_admin": True}

    def test_the_server_admits_the_connectors_and_the_connectors_admit_nobody(self) -> None:
        run = run_program("prod", self.OVERRIDES)
        policies = {r.name: r.plain_inputs["spec"] for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
        front = policies["mlflow-network-server"]["ingress"][0]["from"][0]
        labels = run.one(DEPLOYMENT, "mlflow-ingress-cloudflared").plain_inputs["spec"]["template"]["metadata"]["labels"]
        assert front["podSelector"]["matchLabels"].items() <= labels.items()
        assert policies["mlflow-network-cloudflared"]["ingress"] == []

    def test_what_cloudflare_needs_is_asked_for_at_preview(self) -> None:
        message = prod_error({"frontDoor": "cloudflare", "gatewayClassName": None,
                               "ingressTlsClusterIssuer": "letsencrypt-prod"})
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

        run = run_program("dev", {**JOBS, **DEV_INGRESS})
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
        # The route still sends everything to oauth2-proxy, which does the routing.
        (rule,) = route_spec(run)["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]

    def test_an_httproute_straight_to_mlflow_routes_them_by_path_prefix(self) -> None:
        run = run_program("dev", JOBS)
        everything, jobs = route_spec(run)["rules"]
        assert everything["backendRefs"] == [{"name": "mlflow", "port": 5000}]
        assert jobs["backendRefs"] == [{"name": "mlflow-jobs", "port": 5000}]
        assert {"path": {"type": "PathPrefix", "value": JOB_ROUTE}} in jobs["matches"]

    def test_a_cloudflare_tunnel_routes_them_by_its_own_rule_at_cloudflare(self) -> None:
        """The tunnel's routes are its remote configuration (the hostname's rule is set there too): the stack adds
        the jobs pod, which admits the connectors, and docs/front-doors.md gives the rule, built from JOB_ROUTES."""
        from mlflow_platform.mlflow_server import JOB_ROUTES
        from mlflow_platform.mlflow_server.jobs import tunnel_path_rule

        run = run_program("prod", TestCloudflareFrontDoor.OVERRIDES)  # Pulumi.prod.yaml runs the jobs pod
        assert run.one(DEPLOYMENT, "mlflow-jobs")
        jobs_policy = next(p for p in run.of_type(NETWORK_POLICY) if p.k8s_name == "mlflow-network-jobs")
        callers = jobs_policy.plain_inputs["spec"]["ingress"][0]["from"]
        connectors = selector_labels("cloudflared", "mlflow-ingress-cloudflared", "tunnel")
        assert {"podSelector": {"matchLabels": connectors}} in callers
        rule = tunnel_path_rule()
        assert f"`{rule}`" in (ROOT / "docs" / "front-doors.md").read_text()
        # cloudflared matches a rule's path as an unanchored Go regular expression (ingress/rule.go): the same
        # here for this plain alternation.
        assert all(re.search(rule, route + "/x") for route in JOB_ROUTES)
        for path in ("/", "/api/2.0/mlflow/experiments/search", "/x/ajax-api/3.0/jobs", "/ajax-api/3.0/mlflow/traces"):
            assert not re.search(rule, path), path


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
        run = run_program("prod", {**PROD_INGRESS, "ingressClass": "alb", "ingressAnnotations": self.ALB,
                                   "ingressTlsClusterIssuer": "", "ingressTlsSecret": "acm"})
        notes = annotations(run, "mlflow-ingress")
        assert self.ALB.items() <= notes.items() and f"{NGINX}/ssl-redirect" in notes
        spec = run.one(INGRESS, "mlflow-ingress").plain_inputs["spec"]
        assert (spec["ingressClassName"], spec["tls"]) == ("alb", [{"hosts": ["mlflow.example.com"], "secretName": "acm"}])
        # People arrive over https: oauth2-proxy sends them back there, with secure cookies.
        proxy = container(run.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"), "oauth2-proxy")["args"]
        assert {"--redirect-url=https://mlflow.example.com/oauth2/callback", "--cookie-secure=true"} <= set(proxy)

    def test_every_annotation_not_given_is_one_the_platform_declares(self) -> None:
        from mlflow_platform.ingress_sso.args import PLATFORM_ANNOTATIONS
        for run in (run_program("dev", DEV_INGRESS), run_program("prod", PROD_INGRESS)):
            assert set(annotations(run, "mlflow-ingress")) <= set(PLATFORM_ANNOTATIONS)

    @pytest.mark.parametrize(("annotation", "expected"), [
        ({f"{NGINX}/proxy-body-size": "1m"}, "is set by the platform (the server's /tmp size)"),
        ({"cert-manager.io/cluster-issuer": "other"}, "is set by the platform (tls_cluster_issuer)"),
        ({"bad key!": "x"}, "is not a label or annotation key"),
        ({"alb.ingress.kubernetes.io/scheme": 1}, "1 is not a string"),
    ])
    def test_refused_at_preview(self, annotation: dict[str, Any], expected: str) -> None:
        assert_refused("dev", {**DEV_INGRESS, "ingressAnnotations": annotation}, "ingressAnnotations", expected)

    def test_they_need_an_ingress(self) -> None:
        assert_refused("dev", {"ingressAnnotations": self.ALB}, "ingressAnnotations",
                       "frontDoor gateway declares no Ingress")

    def test_the_component_refuses_them_too_for_programs_that_use_it_directly(self) -> None:
        from mlflow_platform import GatewayRef, IngressSsoArgs
        with pytest.raises(ValueError, match=r"'cert-manager.io/cluster-issuer' is set by the platform"):
            IngressSsoArgs(namespace="mlflow", host="mlflow.example.com", service_name="mlflow",
                           annotations={"cert-manager.io/cluster-issuer": "other"})
        with pytest.raises(ValueError, match="there is no Ingress with a gateway"):
            IngressSsoArgs(namespace="mlflow", host="mlflow.example.com", service_name="mlflow",
                           annotations=self.ALB, gateway=GatewayRef(name="shared"))
