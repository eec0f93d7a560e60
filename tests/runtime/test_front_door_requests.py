"""The requests the front doors really send, against the server the stacks declare (MLflow 3.17.2, real PostgreSQL).

Dev's front door is NGINX Gateway Fabric v2.6.7, which proxies the browser's request to MLflow; prod's is an ALB of
the AWS Load Balancer Controller v3.5.0 (Gateway API, ip targets), which health-checks its targets and forwards to
them. Each request goes out with http.client, header by header, as that proxy builds it (no Accept-Encoding or
other header http.client would add); the source of each shape is in the test's docstring.

MLflow's host check (mlflow/server/fastapi_security.py HostValidationMiddleware, security_utils.py
is_allowed_host_header) answers 403 to a Host outside --allowed-hosts on every path but `<static prefix>/health` and
`<static prefix>/version` (HEALTH_ENDPOINTS, is_health_endpoint); /metrics is not exempt. So what decides whether a
front door works is the Host it sends, and for an ALB health check that is an address (the load balancer node's, or
the target's), never the ingress host.

Prod runs oauth2-proxy (v7.15.2) between the ALB and MLflow: it passes the ALB's Host on unchanged
(--pass-host-header defaults to true: pkg/apis/options/legacy_options.go; pkg/upstream/http.go sets the upstream's
host only when it is false), appends the ALB's address to X-Forwarded-For (Go's httputil.ReverseProxy) and adds the
user's token (--pass-authorization-header) and X-Forwarded-User/-Email (--pass-user-headers). Prod's server here is
the dev stack with Pulumi.prod.yaml's front-door keys and without the auth app: its --allowed-hosts and
--cors-allowed-origins are prod's (checked below); the auth app and its tokens are tests/runtime/test_identity.py's.
"""

import http.client
import ipaddress
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from harness import CLUSTER_OUTPUTS, ROOT, ProgramRun, run_program
from runtime.generated import POD_IP, declared_container
from runtime.platform import DEPLOYMENT, RunningServer, migrated_server
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime

# An ALB node's address: ALB nodes take addresses in the load balancer's subnets, inside the cluster stack's vpcCidr
# (10.20.0.0/16 in tests/harness.py CLUSTER_OUTPUTS). Not a pod's: the server admits only its own pod IP.
ALB_NODE = str(ipaddress.ip_network(CLUSTER_OUTPUTS["vpcCidr"])[3 * 256 + 17])
# The User-Agent of ALB health checks, as targets' access logs show it (not in the AWS guides I could find).
ALB_HEALTH_CHECKER = "ELB-HealthChecker/2.0"
# The AWS Load Balancer Controller's target-group defaults when a TargetGroupConfiguration names no health check
# (v3.5.0 pkg/gateway/model/model_build_target_group.go newTargetGroupBuilder): path "/", matcher "200-399".
LBC_DEFAULT_HEALTH_CHECK_PATH = "/"
LBC_DEFAULT_MATCHER = range(200, 400)
# As the ALB sends it (AWS Load Balancer Controller v3.5.0 docs/examples/echo_server.md, the headers an echo server
# received through an ALB; format: Elastic Load Balancing "Request tracing for your Application Load Balancer").
TRACE_ID = "Root=1-59c08da5-113347df69640735312371bd"
BROWSER_IP = "203.0.113.7"
# What NGINX Gateway Fabric on kind sees as the browser's address: the docker network's gateway.
KIND_CLIENT_IP = "172.18.0.1"
BROWSER = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"),
           ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")]
PROGRAM = [("User-Agent", "mlflow-python-client/3.17.2"), ("Accept", "*/*")]
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"
INVALID_HOST = b"Invalid Host header"  # mlflow/server/security_utils.py INVALID_HOST_MSG
# What a prod front door is made of in Pulumi.prod.yaml: its keys by prefix (the name people reach MLflow at, TLS,
# the Gateway and the ALB).
PROD_FRONT_DOOR_PREFIXES = ("frontDoor", "ingress", "gateway", "alb")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self
        return json.loads(self.body)


def send(server: RunningServer, method: str, path: str, headers: list[tuple[str, str]],
         body: bytes | None = None) -> Answer:
    """One HTTP/1.1 request with exactly these headers (and Content-Length for a body), to the local server."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def json_body(value: dict[str, Any]) -> tuple[list[tuple[str, str]], bytes]:
    return [("Content-Type", "application/json")], json.dumps(value).encode()


@dataclass(frozen=True)
class FrontDoor:
    """Where people reach a stack's MLflow: its trackingUrl output."""

    scheme: str
    host: str
    prefix: str

    @classmethod
    def of(cls, run: ProgramRun) -> "FrontDoor":
        url = urlsplit(str(run.stack_outputs["trackingUrl"]))
        return cls(url.scheme, str(url.hostname), url.path.rstrip("/"))

    @property
    def port(self) -> int:
        return 443 if self.scheme == "https" else 80

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"


def static_prefix(server: RunningServer) -> str:
    return server.argv[server.argv.index("--static-prefix") + 1] if "--static-prefix" in server.argv else ""


def health_check_path(server: RunningServer) -> str:
    """The TargetGroupConfiguration's healthCheckPath for a backend that is MLflow itself: `<static prefix>/health`."""
    return f"{static_prefix(server)}/health"


def alb_health_check(host: str) -> list[tuple[str, str]]:
    """A target-group health check: GET on the target's traffic port (the controller's default healthCheckPort,
    v3.5.0 pkg/gateway/routeutils/backend_service.go GetHealthCheckPort), User-Agent ELB-HealthChecker/2.0, and an
    address as Host. AWS states which one for Network Load Balancers: "the IP address of the load balancer node and
    the listener port, not the IP address of the target and the health check port" (awsdocs
    elb-network-load-balancers-user-guide doc_source/load-balancer-troubleshooting.md, "Target fails HTTP or HTTPS
    health checks due to host header mismatch"); the ALB guide does not say, and ALB users report the target's own
    address (Django ALLOWED_HOSTS write-ups). Either way an address, never the ingress host."""
    return [("Host", host), ("User-Agent", ALB_HEALTH_CHECKER)]


def node_address(door: FrontDoor) -> str:
    """The documented form: the load balancer node and the listener port."""
    return f"{ALB_NODE}:{door.port}"


def alb_forwarded(door: FrontDoor, host: str | None = None) -> list[tuple[str, str]]:
    """What an ALB adds to a request it forwards (AWS Load Balancer Controller v3.5.0 docs/examples/echo_server.md;
    Elastic Load Balancing "HTTP headers and Application Load Balancers"): the client's Host (the listener's port is
    appended only when it is not the scheme's own: the routing.http.preserve_host_header.enabled launch notes),
    X-Forwarded-For (the client's address, routing.http.xff_header_processing.mode append), -Proto and -Port of the
    listener, and X-Amzn-Trace-Id."""
    return [("Host", host or door.host), ("X-Amzn-Trace-Id", TRACE_ID), ("X-Forwarded-For", BROWSER_IP),
            ("X-Forwarded-Port", str(door.port)), ("X-Forwarded-Proto", door.scheme)]


def through_oauth2_proxy(alb_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ALB's request as oauth2-proxy v7.15.2 passes it on: Host kept, the ALB node appended to X-Forwarded-For,
    the signed-in user's headers added (the token itself is for the auth app, which this server does not run)."""
    passed = [(name, f"{value}, {ALB_NODE}" if name == "X-Forwarded-For" else value) for name, value in alb_headers]
    return [*passed, ("X-Forwarded-User", "alice"), ("X-Forwarded-Email", "alice@example.com")]


def ngf_forwarded(door: FrontDoor, client_host: str) -> list[tuple[str, str]]:
    """The proxy_set_header lines NGINX Gateway Fabric v2.6.7 writes in every location (internal/controller/nginx/
    config/servers.go createBaseProxySetHeaders, updateLocationProxySettings; base_http_config_template.go maps):
    Host $gw_api_compliant_host ($http_host, as the browser sent it), X-Forwarded-For $proxy_add_x_forwarded_for,
    X-Real-IP $remote_addr, X-Forwarded-Proto $scheme, X-Forwarded-Host $host (the name without a port),
    X-Forwarded-Port $server_port. Upgrade $http_upgrade and Connection $connection_keepalive (upstream keepalive is on
    by default: upstreams.go processKeepAliveSettings, 16 connections) are empty for a plain request, and nginx sends
    no header whose value is empty."""
    return [("Host", client_host), ("X-Forwarded-For", KIND_CLIENT_IP), ("X-Real-IP", KIND_CLIENT_IP),
            ("X-Forwarded-Proto", door.scheme), ("X-Forwarded-Host", client_host.partition(":")[0].lower()),
            ("X-Forwarded-Port", str(door.port))]


def assert_mlflows_search(answer: Answer) -> None:
    assert answer.status == 200, answer
    experiments = answer.json()["experiments"]
    assert len(experiments) == 1 and {"experiment_id", "name", "lifecycle_stage"} <= experiments[0].keys()


def assert_mlflows_page(answer: Answer) -> None:
    assert answer.status == 200, answer
    assert answer.headers["content-type"].startswith("text/html")
    assert b"<title>MLflow</title>" in answer.body


def assert_refused_host(answer: Answer) -> None:
    assert answer.status == 403 and INVALID_HOST in answer.body, answer


@pytest.fixture(scope="module")
def prod_front_door() -> ProgramRun:
    """The dev stack behind prod's front door: Pulumi.prod.yaml's front-door keys, and for an ALB, which reaches the
    pods from the VPC, the VPC's CIDR that prod reads from its cluster stack."""
    config = {key.removeprefix("mlflow-platform:"): value
              for key, value in yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"].items()}
    front_door = {key: value for key, value in config.items() if key.startswith(PROD_FRONT_DOOR_PREFIXES)}
    if front_door.get("gatewayController") == "aws-alb":
        front_door["databaseCidr"] = CLUSTER_OUTPUTS["vpcCidr"]
    return run_program("dev", front_door)


@pytest.fixture(scope="module")
def prod_server(prod_front_door: ProgramRun, postgres_server: PostgresServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with migrated_server(prod_front_door, postgres_server, Path(tmp_path_factory.mktemp("alb")), "alb") as (_, running):
        yield running


@pytest.fixture(scope="module", params=["dev", "prod"])
def each_server(request: pytest.FixtureRequest, dev: ProgramRun,
                prod_front_door: ProgramRun) -> tuple[FrontDoor, RunningServer]:
    """Each stack's server (dev's as the dev stack declares it) and its front door."""
    if request.param == "dev":
        return FrontDoor.of(dev), request.getfixturevalue("server")
    return FrontDoor.of(prod_front_door), request.getfixturevalue("prod_server")


def declared_flags(run: ProgramRun) -> dict[str, str]:
    declared = declared_container(run, DEPLOYMENT, "mlflow")
    argv = [*declared.command, *declared.args]
    return {flag: argv[argv.index(flag) + 1] for flag in ("--allowed-hosts", "--cors-allowed-origins", "--static-prefix")
            if flag in argv}


def test_the_prod_server_here_admits_what_the_prod_stack_declares(prod: ProgramRun, prod_front_door: ProgramRun) -> None:
    """Guard: the host check and CORS of the server the ALB tests send to are prod's, flag for flag."""
    assert declared_flags(prod_front_door) == declared_flags(prod)
    assert FrontDoor.of(prod_front_door) == FrontDoor.of(prod)


class TestAlbHealthCheck:
    """The ALB's target-group health check of a backend that is MLflow itself (a TargetGroupConfiguration for the
    MLflow Service): what the ALB sends, and why healthCheckPath must be `<static prefix>/health`."""

    @pytest.mark.parametrize("host", ["node:80", "node:443", "node", "target"])
    def test_the_health_path_answers_200_whatever_address_is_the_host(
            self, each_server: tuple[FrontDoor, RunningServer], host: str) -> None:
        """GET `<prefix>/health` with `User-Agent: ELB-HealthChecker/2.0` and as Host the load balancer node with
        either listener port or none, or the target itself (`<pod IP>:<traffic port>`): healthy with the
        controller's default matcher 200-399, because MLflow exempts /health from its host check
        (security_utils.py HEALTH_ENDPOINTS)."""
        _, server = each_server
        node, _, port = host.partition(":")
        address = f"{POD_IP}:{server.declared_port}" if node == "target" else f"{ALB_NODE}{':' if port else ''}{port}"
        answer = send(server, "GET", health_check_path(server), alb_health_check(address))
        assert answer.status == 200 and answer.status in LBC_DEFAULT_MATCHER, answer
        assert answer.body == b"OK"

    def test_the_controllers_default_path_is_refused(self, each_server: tuple[FrontDoor, RunningServer]) -> None:
        """Without a healthCheckPath the controller checks `/` (defaultHealthCheckPathHTTP): MLflow answers 403 to
        the node's address there, outside 200-399, so every target would be unhealthy."""
        door, server = each_server
        answer = send(server, "GET", LBC_DEFAULT_HEALTH_CHECK_PATH, alb_health_check(node_address(door)))
        assert_refused_host(answer)
        assert answer.status not in LBC_DEFAULT_MATCHER

    def test_the_readiness_path_is_refused(self, each_server: tuple[FrontDoor, RunningServer]) -> None:
        """The kubelet's readiness path is no health check path for an ALB: it passes the host check only with the
        pod's own address (the kubelet's Host), not the ALB node's."""
        door, server = each_server
        readiness = server.declared.probes["readinessProbe"]["httpGet"]["path"]
        assert_refused_host(send(server, "GET", readiness, alb_health_check(node_address(door))))


class TestAlbForwarded:
    """Requests the ALB forwards to MLflow (directly, or through oauth2-proxy), with the prod stack's ingress host."""

    @pytest.fixture
    def door(self, prod_front_door: ProgramRun) -> FrontDoor:
        return FrontDoor.of(prod_front_door)

    @pytest.mark.parametrize("hop", ["alb", "alb+oauth2-proxy"])
    def test_a_programs_tracking_calls(self, prod_server: RunningServer, door: FrontDoor, hop: str) -> None:
        """The MLflow client's create-experiment and search through the ALB: Host the ingress host,
        X-Forwarded-For/-Proto/-Port, X-Amzn-Trace-Id (alb_forwarded's sources)."""
        headers = alb_forwarded(door)
        headers = through_oauth2_proxy(headers) if hop != "alb" else headers
        content, body = json_body({"name": f"via-{hop}-{uuid.uuid4().hex[:8]}"})
        created = send(prod_server, "POST", f"{door.prefix}/api/2.0/mlflow/experiments/create",
                       [*headers, *PROGRAM, *content], body)
        assert created.status == 200, created
        assert created.json()["experiment_id"]
        assert_mlflows_search(send(prod_server, "GET", f"{door.prefix}{SEARCH}", [*headers, *PROGRAM]))

    @pytest.mark.parametrize("hop", ["alb", "alb+oauth2-proxy"])
    def test_a_browsers_ui_page_and_write(self, prod_server: RunningServer, door: FrontDoor, hop: str) -> None:
        """The UI's page, then one of its writes (ajax-api, with the page's Origin, which CORS checks)."""
        headers = alb_forwarded(door)
        headers = through_oauth2_proxy(headers) if hop != "alb" else headers
        assert_mlflows_page(send(prod_server, "GET", f"{door.prefix}/", [*headers, *BROWSER]))
        content, body = json_body({"name": f"ui-via-{hop}-{uuid.uuid4().hex[:8]}"})
        created = send(prod_server, "POST", f"{door.prefix}/ajax-api/2.0/mlflow/experiments/create",
                       [*headers, *BROWSER, ("Origin", door.origin), *content], body)
        assert created.status == 200, created

    def test_a_listener_on_another_port_appends_it_to_the_host(self, prod_server: RunningServer,
                                                               door: FrontDoor) -> None:
        """Without routing.http.preserve_host_header the ALB appends a non-default listener port to the Host
        (AWS's launch notes for the attribute: `www.amazon.com` arrives as `www.amazon.com:8443`)."""
        headers = alb_forwarded(door, host=f"{door.host}:8443")
        assert_mlflows_search(send(prod_server, "GET", f"{door.prefix}{SEARCH}", [*headers, *PROGRAM]))

    @pytest.mark.parametrize("host", ["mlflow.example.com.evil.example.com", "evil.example.com"])
    def test_other_names_are_refused(self, prod_server: RunningServer, door: FrontDoor, host: str) -> None:
        """Guard: the same request with another name in Host gets MLflow's 403 (the host check is on)."""
        assert_refused_host(send(prod_server, "GET", f"{door.prefix}{SEARCH}", [*alb_forwarded(door, host), *PROGRAM]))


class TestNginxGatewayFabricForwarded:
    """Requests NGINX Gateway Fabric v2.6.7 forwards from its HTTPRoute to the MLflow Service (dev, no SSO)."""

    @pytest.fixture
    def door(self, dev: ProgramRun) -> FrontDoor:
        return FrontDoor.of(dev)

    @pytest.mark.parametrize("port_in_host", [False, True])
    def test_a_programs_tracking_calls(self, server: RunningServer, door: FrontDoor, port_in_host: bool) -> None:
        """The MLflow client on http://<ingress host> (Host without a port) or on a port-forwarded Gateway
        (http://<ingress host>:8080: NGF passes $http_host on with its port)."""
        client_host = f"{door.host}:8080" if port_in_host else door.host
        headers = ngf_forwarded(door, client_host)
        content, body = json_body({"name": f"via-ngf-{uuid.uuid4().hex[:8]}"})
        created = send(server, "POST", f"{door.prefix}/api/2.0/mlflow/experiments/create",
                       [*headers, *PROGRAM, *content], body)
        assert created.status == 200, created
        assert_mlflows_search(send(server, "GET", f"{door.prefix}{SEARCH}", [*headers, *PROGRAM]))

    def test_a_browsers_ui_page_and_write(self, server: RunningServer, door: FrontDoor) -> None:
        headers = ngf_forwarded(door, door.host)
        assert_mlflows_page(send(server, "GET", f"{door.prefix}/", [*headers, *BROWSER]))
        content, body = json_body({"name": f"ui-via-ngf-{uuid.uuid4().hex[:8]}"})
        created = send(server, "POST", f"{door.prefix}/ajax-api/2.0/mlflow/experiments/create",
                       [*headers, *BROWSER, ("Origin", door.origin), *content], body)
        assert created.status == 200, created

    def test_another_name_is_refused(self, server: RunningServer, door: FrontDoor) -> None:
        """Guard: NGF passes any Host the client sends; MLflow refuses the names it does not serve."""
        headers = ngf_forwarded(door, "evil.example.com")
        assert_refused_host(send(server, "GET", f"{door.prefix}{SEARCH}", [*headers, *PROGRAM]))
