"""Every custom resource the stacks declare passes its CRD's schema, strictly (tests/crd_schema.py says how), in every
vendored source of its API group: Gateway API v1.5.1 and v1.6.1, NGINX Gateway Fabric v2.6.7, AWS Load Balancer
Controller v3.5.0, prometheus-operator v0.93.0 (tests/crd_schemas/, written by tools/crd_schemas.py). A custom resource
with no vendored schema fails.

The sample manifests below are the shapes the platform emits (or will): they pin what each CRD accepts, and the
guards prove the checker can fail.
"""

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from crd_schema import (
    FILTER_RULES_PATH,
    HAND_CHECKED_RULES,
    SCHEMAS,
    UNCHECKED_FIELDS,
    Validator,
    is_custom,
    problems,
    python_pattern,
    raw_schema,
    schema_at,
    sources_for,
    strict_schema,
    vendored,
)
from test_schemas import CUSTOM_API_GROUPS, as_manifest

from harness import ProgramRun
from tools import crd_schemas

GATEWAY_API = ("gateway-api-v1.5.1", "gateway-api-v1.6.1")
HTTPROUTE_TYPE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def custom_resource_problems(run: ProgramRun) -> tuple[list[str], list[str]]:
    """(each problem as "<urn>: <problem>", the kinds checked) of the run's custom resources."""
    failures, checked = [], []
    for obj in run.kubernetes_objects():
        manifest = as_manifest(obj)
        api_version = str(manifest.get("apiVersion", ""))
        if not is_custom(api_version):
            continue
        checked.append(f"{api_version} {manifest.get('kind')}")
        failures += [f"{obj.urn}: {problem}" for problem in problems(manifest)]
    return failures, checked


def test_every_custom_resource_passes_its_crd_schemas(any_stack: ProgramRun) -> None:
    failures, _ = custom_resource_problems(any_stack)
    assert failures == []


def test_a_misspelt_field_in_a_declared_route_is_caught(each_stack: ProgramRun) -> None:
    """Guard the guard on a real object: the route the stack declares, with `hostnames` misspelt."""
    (route,) = each_stack.of_type(HTTPROUTE_TYPE)
    manifest = as_manifest(route)
    manifest["spec"]["hostname"] = manifest["spec"].pop("hostnames")
    found = problems(manifest)
    assert found == [f"{source}: spec: Additional properties are not allowed ('hostname' was unexpected)"
                     for source in GATEWAY_API]


def test_test_schemas_leaves_out_exactly_the_custom_groups() -> None:
    assert {p.rstrip("/") for p in CUSTOM_API_GROUPS} == {"monitoring.coreos.com", "gateway.networking.k8s.io",
                                                          "gateway.nginx.org", "gateway.k8s.aws"}
    assert all(is_custom(f"{prefix}v1") for prefix in CUSTOM_API_GROUPS)
    assert not is_custom("networking.k8s.io/v1") and not is_custom("v1") and not is_custom("apps/v1")


# --- The vendored schemas --------------------------------------------------------------------------------------------


def test_every_vendored_schema_says_where_it_came_from() -> None:
    recorded = json.loads((SCHEMAS / "SOURCES.json").read_text())
    files = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.glob("*/*.json")}
    assert set(recorded) == files
    pinned = {s.directory: s for s in crd_schemas.SOURCES}
    for name, origin in recorded.items():
        source = pinned[name.split("/")[0]]
        assert (origin["repo"], origin["tag"], origin["commit"]) == (source.repo, source.tag, source.commit)
        assert origin["path"] in source.paths
        assert re.fullmatch(r"[0-9a-f]{64}", origin["sha256"])
    assert set(vendored()) == set(pinned)


def test_the_vendored_files_are_what_the_tool_writes() -> None:
    """Sorted keys, indent 1, no descriptions: a hand edit that changes the form shows here (the content is
    tools/crd_schemas.py --check's, where the upstream mirrors exist)."""
    for path in SCHEMAS.rglob("*.json"):
        text = path.read_text()
        assert text == crd_schemas.dump(json.loads(text)), path
        if path.name != "SOURCES.json":
            assert crd_schemas.without_descriptions(json.loads(text)) == json.loads(text), path


@pytest.mark.parametrize("source", sorted(vendored()))
def test_every_strict_schema_is_a_valid_draft4_schema(source: str) -> None:
    for group, kind, version in vendored()[source]:
        Validator.check_schema(strict_schema(source, group, kind, version))


def test_every_hand_checked_cel_rule_stands_word_for_word_and_no_other_rule_is_missed() -> None:
    for (group, kind), rules in HAND_CHECKED_RULES.items():
        for source in sources_for(group):
            for g, k, version in vendored()[source]:
                if (g, k) != (group, kind):
                    continue
                schema = raw_schema(source, group, kind, version)
                assert schema is not None
                for path, expected in rules.items():
                    found = tuple(r["rule"] for r in schema_at(schema, path).get("x-kubernetes-validations", []))
                    assert set(found) == set(expected), f"{source} {kind} {version} {path}"
                for path, found_rules in cel_rules(schema).items():
                    if path in rules or path.startswith(("status", *UNCHECKED_FIELDS.get((group, kind), ()))):
                        continue
                    assert path == FILTER_RULES_PATH and all("filters" in r for r in found_rules), \
                        f"{source} {kind} {version}: the CEL rules at {path} are neither hand-checked nor listed"


def cel_rules(schema: dict[str, Any], path: str = "") -> dict[str, list[str]]:
    found = {path: [r["rule"] for r in schema["x-kubernetes-validations"]]} if "x-kubernetes-validations" in schema else {}
    for name, sub in schema.get("properties", {}).items():
        found |= cel_rules(sub, f"{path}.{name}".lstrip("."))
    if isinstance(schema.get("items"), dict):
        found |= cel_rules(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found |= cel_rules(schema["additionalProperties"], f"{path}{{}}")
    return found


# --- Sample manifests: what each CRD accepts for the shapes the platform emits ---------------------------------------

HTTPROUTE: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": "mlflow-ingress", "namespace": "mlflow", "labels": {"app.kubernetes.io/name": "mlflow"}},
    "spec": {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public",
                        "namespace": "gateways", "sectionName": "https"}],
        "hostnames": ["mlflow.example.com"],
        "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
             "backendRefs": [{"name": "mlflow", "port": 5000}],
             "timeouts": {"request": "900s"}},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/ajax-api/3.0/mlflow/scorer/invoke"}},
                         {"path": {"type": "Exact", "value": "/api/2.0/mlflow/jobs/submit"}}],
             "backendRefs": [{"group": "", "kind": "Service", "name": "mlflow-jobs", "port": 5000, "weight": 1}],
             "timeouts": {"request": "1h", "backendRequest": "15m"}},
        ],
    },
}
GATEWAY: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
    "metadata": {"name": "mlflow", "namespace": "mlflow"},
    "spec": {
        "gatewayClassName": "nginx",
        "infrastructure": {"parametersRef": {"group": "gateway.nginx.org", "kind": "NginxProxy", "name": "mlflow"},
                           "labels": {"app.kubernetes.io/part-of": "mlflow-platform"},
                           "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}},
        "listeners": [
            {"name": "https", "hostname": "mlflow.example.com", "port": 443, "protocol": "HTTPS",
             "tls": {"mode": "Terminate", "certificateRefs": [{"group": "", "kind": "Secret", "name": "mlflow-tls"}]},
             "allowedRoutes": {"kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                               "namespaces": {"from": "Selector", "selector": {
                                   "matchLabels": {"kubernetes.io/metadata.name": "mlflow"},
                                   "matchExpressions": [{"key": "team", "operator": "In", "values": ["ml"]}]}}}},
            {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}},
        ],
    },
}
# The AWS Load Balancer Controller's Gateway: the certificate is the LoadBalancerConfiguration's (an ACM ARN), so the
# HTTPS listener has no tls (docs/guide/gateway/l7gateway.md, v3.5.0).
ALB_GATEWAY: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
    "metadata": {"name": "mlflow", "namespace": "mlflow"},
    "spec": {
        "gatewayClassName": "aws-alb",
        "infrastructure": {"parametersRef": {"group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration",
                                             "name": "mlflow"}},
        "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "mlflow.example.com",
                       "allowedRoutes": {"namespaces": {"from": "Same"}}}],
    },
}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
LOAD_BALANCER: dict[str, Any] = {
    "apiVersion": "gateway.k8s.aws/v1", "kind": "LoadBalancerConfiguration",
    "metadata": {"name": "mlflow", "namespace": "mlflow"},
    "spec": {
        "scheme": "internal",
        "ipAddressType": "ipv4",
        "listenerConfigurations": [{"protocolPort": "HTTPS:443", "defaultCertificate": CERTIFICATE,
                                    "certificates": [CERTIFICATE], "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}],
        "loadBalancerAttributes": [{"key": "idle_timeout.timeout_seconds", "value": "900"}],
        "loadBalancerSubnets": [{"identifier": "subnet-0aaa1111"}],
        "securityGroups": ["sg-0node1234567890"],
        "tags": {"team": "ml-platform"},
        "defaultTargetGroupConfiguration": {"name": "mlflow-defaults"},
    },
}
TARGET_GROUP: dict[str, Any] = {
    "apiVersion": "gateway.k8s.aws/v1", "kind": "TargetGroupConfiguration",
    "metadata": {"name": "mlflow", "namespace": "mlflow"},
    "spec": {
        "targetReference": {"group": "", "kind": "Service", "name": "mlflow"},
        "defaultConfiguration": {
            "targetType": "ip",
            "protocol": "HTTP",
            "healthCheckConfig": {"healthCheckPath": "/health", "healthCheckProtocol": "HTTP", "healthCheckPort": "5000",
                                  "healthCheckInterval": 15, "healthCheckTimeout": 5, "healthyThresholdCount": 2,
                                  "unhealthyThresholdCount": 2, "matcher": {"httpCode": "200"}},
            "targetGroupAttributes": [{"key": "deregistration_delay.timeout_seconds", "value": "30"}],
        },
    },
}
CLIENT_SETTINGS: dict[str, Any] = {
    "apiVersion": "gateway.nginx.org/v1alpha1", "kind": "ClientSettingsPolicy",
    "metadata": {"name": "mlflow", "namespace": "mlflow"},
    "spec": {
        "targetRef": {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "mlflow-ingress"},
        "body": {"maxSize": "5g", "timeout": "900s"},
        "keepAlive": {"timeout": {"server": "75s", "header": "60s"}},
    },
}
PROXY_SETTINGS: dict[str, Any] = {
    "apiVersion": "gateway.nginx.org/v1alpha1", "kind": "ProxySettingsPolicy",
    "metadata": {"name": "mlflow", "namespace": "mlflow"},
    "spec": {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "mlflow-ingress"}],
        "buffering": {"disable": True},
        "timeout": {"connect": "60s", "read": "900s", "send": "900s"},
    },
}
SAMPLES = {"HTTPRoute": HTTPROUTE, "Gateway": GATEWAY, "ALB Gateway": ALB_GATEWAY,
           "LoadBalancerConfiguration": LOAD_BALANCER, "TargetGroupConfiguration": TARGET_GROUP,
           "ClientSettingsPolicy": CLIENT_SETTINGS, "ProxySettingsPolicy": PROXY_SETTINGS}


@pytest.mark.parametrize("name", SAMPLES)
def test_the_sample_passes(name: str) -> None:
    assert problems(SAMPLES[name]) == []


def test_gateway_api_samples_are_checked_against_both_versions() -> None:
    assert sources_for("gateway.networking.k8s.io") == GATEWAY_API
    assert sources_for("gateway.nginx.org") == ("nginx-gateway-fabric-v2.6.7",)
    assert sources_for("gateway.k8s.aws") == ("aws-load-balancer-controller-v3.5.0",)


# The Gateway API's own examples (gateway-api v1.6.1, identical in v1.5.1 but for comments), verbatim.
UPSTREAM_EXAMPLES = {
    "examples/standard/simple-gateway/gateway.yaml": """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: prod-web
spec:
  gatewayClassName: example
  listeners:
  - protocol: HTTP
    port: 80
    name: prod-web-gw
    allowedRoutes:
      namespaces:
        from: Same
""",
    "examples/standard/simple-gateway/httproute.yaml": """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: foo
spec:
  parentRefs:
  - name: prod-web
  rules:
  - backendRefs:
    - name: foo-svc
      port: 8080
""",
    "examples/standard/http-route-attachment/gateway-namespaces.yaml": """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: prod-gateway
  namespace: gateway-api-example-ns1
spec:
  gatewayClassName: foo-lb
  listeners:
  - name: prod-web
    port: 80
    protocol: HTTP
    allowedRoutes:
      kinds:
      - kind: HTTPRoute
      namespaces:
        from: Selector
        selector:
          matchLabels:
            expose-apps: "true"
""",
    # Under examples/experimental/, but HTTPRoute timeouts are standard (since v1.2).
    "examples/experimental/http-route-timeouts/timeout-example.yaml": """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: timeout-example
spec:
  parentRefs:
  - name: example-gateway
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /timeout
    timeouts:
      request: 10s
      backendRequest: 2s
    backendRefs:
    - name: timeout-svc
      port: 8080
""",
}


@pytest.mark.parametrize("path", UPSTREAM_EXAMPLES)
def test_the_gateway_api_examples_pass(path: str) -> None:
    assert problems(yaml.safe_load(UPSTREAM_EXAMPLES[path])) == []


# --- Guards: the checker refuses what an API server would refuse or silently drop ------------------------------------


def test_a_misspelt_gateway_field_is_refused_by_both_versions() -> None:
    gateway = copy.deepcopy(GATEWAY)
    gateway["spec"]["listener"] = gateway["spec"].pop("listeners")
    assert problems(gateway) == [
        f"{source}: {problem}" for source in GATEWAY_API
        for problem in ("spec: 'listeners' is a required property",
                        "spec: Additional properties are not allowed ('listener' was unexpected)")]


def test_what_v1_5_1_refuses_and_v1_6_1_accepts() -> None:
    """The only difference of the standard channel's Gateway schemas: infrastructure.annotations (and
    tls.frontend's caCertificateRefs) allow 16 entries, not 8. HTTPRoute's schemas are identical (descriptions aside),
    enums included."""
    gateway = copy.deepcopy(GATEWAY)
    gateway["spec"]["infrastructure"]["annotations"] = {f"example.com/a{i}": "x" for i in range(9)}
    (problem,) = problems(gateway)
    assert problem.startswith("gateway-api-v1.5.1: spec.infrastructure.annotations: ")
    assert problem.endswith("has too many properties")
    assert strict_schema(GATEWAY_API[0], "gateway.networking.k8s.io", "HTTPRoute", "v1") == strict_schema(
        GATEWAY_API[1], "gateway.networking.k8s.io", "HTTPRoute", "v1")


def test_an_experimental_channel_field_is_refused() -> None:
    """HTTPRoute rules[].retry and sessionPersistence are experimental in both versions: clusters with the standard
    CRDs would prune them."""
    route = copy.deepcopy(HTTPROUTE)
    route["spec"]["rules"][0]["retry"] = {"attempts": 2}
    assert problems(route) == [f"{source}: spec.rules[0]: Additional properties are not allowed ('retry' was "
                               "unexpected)" for source in GATEWAY_API]


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(manifest: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = manifest
        for part in parents:
            node = node[part]
        node[last] = value
    return mutate


def _drop(path: str) -> Mutation:
    def mutate(manifest: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = manifest
        for part in parents:
            node = node[part]
        del node[last]
    return mutate


REFUSED: list[tuple[str, str, Mutation, str]] = [
    # (sample, case, mutation, a part of the problem)
    ("HTTPRoute", "path prefix without /", _set("spec.rules.0.matches.0.path.value", "api"),
     "CEL: spec.rules[0].matches[0].path: value must be an absolute path and start with '/'"),
    ("HTTPRoute", "path with //", _set("spec.rules.0.matches.0.path.value", "/a//b"), "must not contain '//'"),
    ("HTTPRoute", "timeout in minutes as min", _set("spec.rules.0.timeouts.request", "15min"),
     "spec.rules[0].timeouts.request: '15min' does not match"),
    ("HTTPRoute", "timeout of six digits", _set("spec.rules.0.timeouts.request", "100000s"), "does not match"),
    ("HTTPRoute", "timeout as a number", _set("spec.rules.0.timeouts.request", 900), "900 is not of type 'string'"),
    ("HTTPRoute", "backend timeout longer than the request's", _set("spec.rules.1.timeouts.backendRequest", "2h"),
     "CEL: spec.rules[1].timeouts: backendRequest timeout cannot be longer than request timeout"),
    ("HTTPRoute", "Service without port", _drop("spec.rules.0.backendRefs.0.port"),
     "CEL: spec.rules[0].backendRefs[0]: Must have port for Service reference"),
    ("HTTPRoute", "uppercase hostname", _set("spec.hostnames", ["MLflow.example.com"]), "does not match"),
    ("HTTPRoute", "a parent twice without sectionName", _set("spec.parentRefs", [{"name": "public"}, {"name": "public"}]),
     "sectionName must be unique"),
    ("HTTPRoute", "filters (rules not hand-checked)",
     _set("spec.rules.0.filters", [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": ["x"]}}]),
     "CEL: spec.rules[0].filters: its CEL rules are not hand-checked"),
    ("HTTPRoute", "status", _set("status", {"parents": []}),
     "(object): Additional properties are not allowed ('status' was unexpected)"),
    ("HTTPRoute", "metadata typo", _set("metadata.label", {}), "metadata: ObjectMeta: Additional properties"),
    ("HTTPRoute", "name not a DNS subdomain", _set("metadata.name", "MLflow"), "metadata.name: 'MLflow' does not match"),
    ("HTTPRoute", "another apiVersion", _set("apiVersion", "gateway.networking.k8s.io/v1alpha2"),
     "no vendored schema of gateway.networking.k8s.io/v1alpha2 HTTPRoute in tests/crd_schemas/gateway-api-v1.5.1"),
    ("Gateway", "HTTP listener with tls", _set("spec.listeners.1.tls", {"certificateRefs": [{"name": "t"}]}),
     "CEL: spec.listeners[1]: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"),
    ("Gateway", "Terminate without certificates", _set("spec.listeners.0.tls", {"mode": "Terminate"}),
     "CEL: spec.listeners[0].tls: certificateRefs or options must be specified when mode is Terminate"),
    ("Gateway", "listener names twice", _set("spec.listeners.1.name", "https"), "duplicate entry [\"https\"]"),
    ("Gateway", "selector typo", _set("spec.listeners.0.allowedRoutes.namespaces.selector.matchLabel", {}),
     "Additional properties are not allowed ('matchLabel' was unexpected)"),
    ("Gateway", "from Namespaces", _set("spec.listeners.0.allowedRoutes.namespaces.from", "Namespaces"),
     "'Namespaces' is not one of ['All', 'Selector', 'Same']"),
    ("Gateway", "parametersRef without group", _drop("spec.infrastructure.parametersRef.group"),
     "spec.infrastructure.parametersRef: 'group' is a required property"),
    ("Gateway", "parametersRef with a namespace", _set("spec.infrastructure.parametersRef.namespace", "nginx"),
     "('namespace' was unexpected)"),
    ("LoadBalancerConfiguration", "lower-case protocol", _set("spec.listenerConfigurations.0.protocolPort", "https:443"),
     "'https:443' does not match"),
    ("LoadBalancerConfiguration", "scheme public", _set("spec.scheme", "public"),
     "'public' is not one of ['internal', 'internet-facing']"),
    ("LoadBalancerConfiguration", "attributes as a map", _set("spec.loadBalancerAttributes", {"a": "b"}),
     "is not of type 'array'"),
    ("LoadBalancerConfiguration", "an attribute value as a number",
     _set("spec.loadBalancerAttributes.0.value", 900), "900 is not of type 'string'"),
    ("LoadBalancerConfiguration", "verify without trust store",
     _set("spec.listenerConfigurations.0.mutualAuthentication", {"mode": "verify"}),
     "trustStore is required when mutualAuthentication mode is 'verify'"),
    ("TargetGroupConfiguration", "target type pod", _set("spec.defaultConfiguration.targetType", "pod"),
     "'pod' is not one of ['instance', 'ip']"),
    ("TargetGroupConfiguration", "health check port as a number",
     _set("spec.defaultConfiguration.healthCheckConfig.healthCheckPort", 5000), "5000 is not of type 'string'"),
    ("TargetGroupConfiguration", "health check path at the top",
     _set("spec.defaultConfiguration.healthCheckPath", "/health"), "('healthCheckPath' was unexpected)"),
    ("TargetGroupConfiguration", "a namespace in targetReference", _set("spec.targetReference.namespace", "x"),
     "('namespace' was unexpected)"),
    ("ClientSettingsPolicy", "targetRefs (ProxySettingsPolicy's plural)",
     lambda m: m["spec"].update(targetRefs=[m["spec"].pop("targetRef")]), "'targetRef' is a required property"),
    ("ClientSettingsPolicy", "maxSize in Gi", _set("spec.body.maxSize", "5Gi"), "'5Gi' does not match"),
    ("ClientSettingsPolicy", "maxSize of five digits", _set("spec.body.maxSize", "10240m"), "'10240m' does not match"),
    ("ClientSettingsPolicy", "body timeout of five digits", _set("spec.body.timeout", "86400s"),
     "'86400s' does not match"),
    ("ClientSettingsPolicy", "targetRef without group", _drop("spec.targetRef.group"),
     "spec.targetRef: 'group' is a required property"),
    ("ClientSettingsPolicy", "targetRef to a Service", _set("spec.targetRef.kind", "Service"),
     "TargetRef Kind must be one of: Gateway, HTTPRoute, or GRPCRoute"),
    ("ClientSettingsPolicy", "keep-alive header without server", _drop("spec.keepAlive.timeout.server"),
     "header can only be specified if server is specified"),
    ("ProxySettingsPolicy", "targetRef (ClientSettingsPolicy's singular)",
     lambda m: m["spec"].update(targetRef=m["spec"].pop("targetRefs")[0]), "'targetRefs' is a required property"),
    ("ProxySettingsPolicy", "buffering off as a string", _set("spec.buffering.disable", "true"),
     "'true' is not of type 'boolean'"),
    ("ProxySettingsPolicy", "request buffering (not this policy's)", _set("spec.buffering.request", False),
     "('request' was unexpected)"),
    ("ProxySettingsPolicy", "a Gateway beside a route",
     lambda m: m["spec"]["targetRefs"].append({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"}),
     "Cannot mix Gateway kind with HTTPRoute or GRPCRoute kinds in targetRefs"),
]


@pytest.mark.parametrize(("sample", "case", "mutate", "expected"), REFUSED, ids=[f"{s}: {c}" for s, c, _, _ in REFUSED])
def test_the_checker_refuses(sample: str, case: str, mutate: Mutation, expected: str) -> None:
    manifest = copy.deepcopy(SAMPLES[sample])
    mutate(manifest)
    found = problems(manifest)
    assert any(expected in problem for problem in found), found


def test_a_custom_resource_without_a_vendored_schema_is_a_problem() -> None:
    certificate = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"}, "spec": {}}
    assert problems(certificate) == ["no vendored schema of API group 'cert-manager.io' (cert-manager.io/v1 Certificate):"
                                     " add its CRD to tools/crd_schemas.py SOURCES"]
    grpc = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute", "metadata": {"name": "g"}, "spec": {}}
    assert problems(grpc) == [f"{source}: no vendored schema of gateway.networking.k8s.io/v1 GRPCRoute in "
                              f"tests/crd_schemas/{source}" for source in GATEWAY_API]


def test_defaults_are_filled_in_before_validating() -> None:
    """spec.addresses[].type defaults to IPAddress, and only then does the value have to be an IP address (a oneOf on
    the type): examples/standard/gateway-addresses.yaml leaves the type out."""
    gateway = copy.deepcopy(GATEWAY)
    gateway["spec"]["addresses"] = [{"value": "1200:0000:AB00:1234:0000:2552:7777:1313"}]
    assert problems(gateway) == [
        "CEL: spec.addresses: its CEL rules are not hand-checked (tests/crd_schema.py UNCHECKED_FIELDS): add them"]
    gateway["spec"]["addresses"] = [{"value": "mlflow.example.com"}]
    assert [p.split(": ")[1] for p in problems(gateway)][:2] == ["spec.addresses[0]"] * 2


def test_the_monitoring_objects_are_checked_and_a_misspelt_field_is_caught(prod: ProgramRun) -> None:
    """prometheus-operator's CRDs: the declared ServiceMonitor and PrometheusRule pass, and guard the guard."""
    _, checked = custom_resource_problems(prod)
    assert {"monitoring.coreos.com/v1 ServiceMonitor", "monitoring.coreos.com/v1 PrometheusRule"} <= set(checked)
    (monitor,) = [as_manifest(m) for m in prod.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")]
    monitor["spec"]["endpoints"][0]["intervall"] = monitor["spec"]["endpoints"][0].pop("interval")
    assert problems(monitor) == ["prometheus-operator-v0.93.0: spec.endpoints[0]: Additional properties are not "
                                 "allowed ('intervall' was unexpected)"]
    (rule,) = [as_manifest(r) for r in prod.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")]
    rule["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"  # not a Prometheus duration
    assert [p.split(":")[1].strip() for p in problems(rule)] == ["spec.groups[0].rules[0].for"]


def test_re2_flag_groups_read_as_the_api_server_reads_them() -> None:
    """prometheus-operator's `^(?i)(abort|warn)?$` (RE2: the flag applies from where it stands)."""
    pattern = python_pattern("^(?i)(abort|warn)?$")
    assert [bool(re.fullmatch(pattern, v)) for v in ("WARN", "abort", "", "warning")] == [True, True, True, False]
