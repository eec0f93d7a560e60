"""Strict validation of custom resources against their CRDs' schemas, as an API server would check them and more.

The schemas are vendored in tests/crd_schemas/<source>-<tag>/ by tools/crd_schemas.py (SOURCES.json says where each
came from). An object of an API group is validated against that group/kind/version in EVERY vendored source holding
the group: Gateway API objects against v1.5.1 (the oldest the platform supports, built into NGINX Gateway Fabric
v2.6.7) and v1.6.1 (the newest, what AWS Load Balancer Controller v3.5.0 is built for), NGINX Gateway Fabric's policies
against v2.6.7, the AWS Load Balancer Controller's CRDs against v3.5.0. A missing schema in any of them is a problem.

Strict: a CRD's structural schema makes the API server prune unknown fields silently, so a misspelt field would
vanish on a cluster. Here it is an error: every object node of the schema's spine (properties, items,
additionalProperties; not the value validations inside allOf/anyOf/oneOf/not) that has `properties`, or is a bare
`type: object`, gets `additionalProperties: false` unless it has `x-kubernetes-preserve-unknown-fields: true`.
OpenAPI v3.0's Schema Object is JSON Schema draft Wright-00 (boolean exclusiveMinimum/Maximum, no `const`), which
jsonschema's Draft4Validator implements; the OpenAPI/Kubernetes extensions are translated: `nullable: true` adds
"null" to the type (and enum), `x-kubernetes-int-or-string: true` becomes anyOf integer/string, and
`x-kubernetes-list-type: set` / `map` (with x-kubernetes-list-map-keys) reject duplicates as the API server does.
The CRD's defaults are filled in first, as the API server does (a oneOf on spec.addresses[].type depends on it).
Formats: only ipv4/ipv6 are checked (Gateway spec.addresses); int32/int64 ranges and date-time (status only) are not.
On top of the CRD's own schema: apiVersion and kind must be this group/version and kind, and metadata must be a
strict ObjectMeta (kubernetes-validate's schema) with a name that is a DNS subdomain (what the API server requires of
a custom resource's name); every CRD schema leaves `metadata` a bare `type: object`. A declared `status` is refused:
it is the controller's, and the API server ignores it (the status subresource).

CEL rules (x-kubernetes-validations) are NOT evaluated by the schema check: no CEL interpreter is a dependency.
cel_problems() hand-checks those on the fields the platform uses, with the CRD's defaults applied first as the
API server does; HAND_CHECKED_RULES lists them verbatim, and tests/test_custom_resource_schemas.py proves each still
stands, word for word, in every vendored source (an upstream change to one fails there, not silently):

- HTTPRoute (gateway-api config/crd/standard/gateway.networking.k8s.io_httproutes.yaml, v1.5.1 and v1.6.1 identical):
  spec.parentRefs: a parent referenced twice needs a sectionName on every reference, and they must differ;
  spec.rules: at most 128 matches across all rules; rules[].matches[].path with type Exact/PathPrefix: the value
  starts with "/" and has no "//", "/./", "/../", "%2f", "%2F", "#", no trailing "/.." or "/.", and only RFC 3986
  path characters; rules[].backendRefs[]: a Service reference (group "" and kind Service, the defaults) needs a port;
  rules[].timeouts: backendRequest no longer than request (unless request is 0s). The timeouts' format itself
  (^([0-9]{1,5}(h|m|s|ms)){1,4}$) is a schema pattern, checked by the schema.
- Gateway (gateway-api config/crd/standard/gateway.networking.k8s.io_gateways.yaml): spec.listeners: no tls for
  HTTP/TCP/UDP; HTTPS tls mode Terminate; TLS needs a tls mode; no hostname for TCP/UDP; unique names; unique
  port+protocol+hostname; listeners[].tls with mode Terminate (the default) needs certificateRefs or options;
  spec.infrastructure.labels/annotations: keys are qualified names with a prefix under 253 characters.
- ClientSettingsPolicy (nginx-gateway-fabric deploy/crds.yaml): spec.targetRef group gateway.networking.k8s.io, kind
  Gateway/HTTPRoute/GRPCRoute; spec.keepAlive.timeout.header only with .server.
- ProxySettingsPolicy (same file): spec.targetRefs group and kinds as above, unique, no Gateway mixed with routes.
- LoadBalancerConfiguration (aws-load-balancer-controller config/crd/gateway/gateway.k8s.aws_loadbalancer...yaml):
  listenerConfigurations[].mutualAuthentication: trustStore required for mode verify, and trustStore,
  ignoreClientCertificateExpiry, advertiseTrustStoreCaNames refused for off/passthrough.
  TargetGroupConfiguration has no CEL rule.
Not checked: the rules on fields the platform does not use (UNCHECKED_FIELDS: HTTPRoute filters, whose rules also
sit on spec.rules[]; Gateway spec.addresses and spec.tls). An object that sets one of them is a problem (cel_problems),
until its rules are checked here too.
"""

import copy
import importlib.resources
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from jsonschema.exceptions import ValidationError

SCHEMAS = Path(__file__).resolve().parent / "crd_schemas"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
Schema = dict[str, Any]


def group_version(api_version: str) -> tuple[str, str]:
    """("gateway.networking.k8s.io", "v1") of "gateway.networking.k8s.io/v1"; ("", "v1") of "v1"."""
    group, _, version = api_version.rpartition("/")
    return group, version


@cache
def built_in_groups() -> frozenset[str]:
    """The API groups Kubernetes itself serves: those of the kinds kubernetes-validate has schemas for."""
    version = kubernetes_validate.utils.latest_version()
    newest = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}-local-strict"
    definitions = json.loads((newest / "_definitions.json").read_text())["$defs"]
    return frozenset(gvk["group"] for d in definitions.values() for gvk in d.get("x-kubernetes-group-version-kind", []))


def is_custom(api_version: str) -> bool:
    return group_version(api_version)[0] not in built_in_groups()


@cache
def vendored() -> dict[str, frozenset[tuple[str, str, str]]]:
    """Each vendored source's directory name -> the (group, kind, version) it has a schema of."""
    found: dict[str, frozenset[tuple[str, str, str]]] = {}
    for directory in sorted(SCHEMAS.iterdir()):
        if directory.is_dir():
            names = [f.stem.split("_") for f in directory.glob("*.json")]
            found[directory.name] = frozenset((group, kind, version) for group, kind, version in names)
    return found


def sources_for(group: str) -> tuple[str, ...]:
    """Every vendored source with a schema of the group: an object of the group must pass them all."""
    return tuple(source for source, kinds in vendored().items() if any(g == group for g, _, _ in kinds))


def vendored_groups() -> tuple[str, ...]:
    return tuple(sorted({g for kinds in vendored().values() for g, _, _ in kinds}))


# What tests/test_schemas.py leaves out: kubernetes-validate has no schema for them.
CUSTOM_API_GROUPS = tuple(f"{group}/" for group in sorted(vendored_groups()))


@cache
def raw_schema(source: str, group: str, kind: str, version: str) -> Schema | None:
    path = SCHEMAS / source / f"{group}_{kind}_{version}.json"
    return json.loads(path.read_text()) if path.is_file() else None


_RE2_FLAGS = re.compile(r"\(\?([imsU]+)\)")


def python_pattern(pattern: str) -> str:
    """A CRD's `pattern` (Go's RE2, which the API server runs) as Python's re reads it the same: RE2 lets a flag group
    such as `(?i)` stand anywhere and apply from there on, Python only at the start, so `A(?i)B` becomes `A(?i:B)`."""
    found = list(_RE2_FLAGS.finditer(pattern))
    assert len(found) <= 1 and "U" not in "".join(m.group(1) for m in found), f"an RE2 pattern to translate: {pattern}"
    if not found:
        return pattern
    flag = found[0]
    return f"{pattern[:flag.start()]}(?{flag.group(1)}:{pattern[flag.end():]})"


def strict(node: Schema) -> Schema:
    """The schema with unknown fields refused (see the module's docstring) and the Kubernetes extensions translated."""
    node = dict(node)
    if isinstance(node.get("pattern"), str):
        node["pattern"] = python_pattern(node["pattern"])
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("nullable") is True:
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    if node.get("x-kubernetes-int-or-string") is True and "type" not in node:
        node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if "properties" in node:
        node["properties"] = {name: strict(sub) for name, sub in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        node["items"] = strict(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = strict(node["additionalProperties"])
    elif not preserve and "additionalProperties" not in node and ("properties" in node or node.get("type") == "object"):
        node["additionalProperties"] = False
    return node


@cache
def strict_schema(source: str, group: str, kind: str, version: str) -> Schema | None:
    raw = raw_schema(source, group, kind, version)
    if raw is None:
        return None
    schema = strict(raw)
    # status is the controller's: with the status subresource (every CRD here has it) the API server drops it.
    schema["properties"] = {
        **{name: sub for name, sub in schema["properties"].items() if name != "status"},
        "apiVersion": {"type": "string", "enum": [f"{group}/{version}"]},
        "kind": {"type": "string", "enum": [kind]},
        "metadata": {"type": "object", "required": ["name"], "x-object-meta": True,
                     "properties": {"name": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN.pattern}}},
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return schema


def defaulted(value: Any, schema: Schema) -> Any:
    """The value with the schema's defaults filled in, top down, as the API server does before it validates."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        result = {name: copy.deepcopy(sub["default"]) for name, sub in properties.items()
                  if "default" in sub and name not in value}
        result.update(value)
        extra = schema.get("additionalProperties")
        return {name: defaulted(item, properties[name] if name in properties else extra if isinstance(extra, dict) else {})
                for name, item in result.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [defaulted(item, schema["items"]) for item in value]
    return value


def _list_type(validator: Any, list_type: str, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    """x-kubernetes-list-type set: no duplicate items; map: no two items with the same x-kubernetes-list-map-keys
    (defaults applied, as the API server defaults before validating)."""
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    if list_type == "set":
        keys = [json.dumps(item, sort_keys=True) for item in instance]
    else:
        item_schema = schema.get("items", {}).get("properties", {})
        names = schema.get("x-kubernetes-list-map-keys", [])
        keys = [json.dumps([item.get(n, item_schema.get(n, {}).get("default")) for n in names]) for item in instance]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            yield ValidationError(f"duplicate entry {key} (x-kubernetes-list-type {list_type})", path=[index])


def _object_meta(validator: Any, enabled: bool, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    """metadata: a strict ObjectMeta, checked by kubernetes-validate (inside a ConfigMap, which adds nothing to it)."""
    if not enabled or not isinstance(instance, dict):
        return
    try:
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": instance},
                                     kubernetes_validate.utils.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as err:
        yield ValidationError(f"ObjectMeta: {err.message}", path=list(err.path)[1:])


Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {
    "x-kubernetes-list-type": _list_type, "x-object-meta": _object_meta})
FORMATS = jsonschema.FormatChecker(formats=("ipv4", "ipv6"))


def json_path(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(object)"


def schema_problems(manifest: dict[str, Any], source: str) -> list[str]:
    """What the source's schema of the manifest's kind refuses, one line each: "<path>: <message>"."""
    group, version = group_version(str(manifest.get("apiVersion", "")))
    kind = str(manifest.get("kind", ""))
    schema = strict_schema(source, group, kind, version)
    if schema is None:
        return [f"no vendored schema of {group}/{version} {kind} in tests/crd_schemas/{source}"]
    errors = sorted(Validator(schema, format_checker=FORMATS).iter_errors(defaulted(manifest, schema)),
                    key=lambda e: list(map(str, e.path)))
    return [f"{json_path(e.absolute_path)}: {e.message[:300]}" for e in errors]


def problems(manifest: dict[str, Any]) -> list[str]:
    """Everything wrong with a custom resource: each source's schema ("<source>: <path>: <message>"), then the
    hand-checked CEL rules ("CEL: ..."). A group no source knows is a problem of its own."""
    group, _ = group_version(str(manifest.get("apiVersion", "")))
    sources = sources_for(group)
    if not sources:
        return [f"no vendored schema of API group {group!r} ({manifest.get('apiVersion')} {manifest.get('kind')}): "
                "add its CRD to tools/crd_schemas.py SOURCES"]
    found = [f"{source}: {problem}" for source in sources for problem in schema_problems(manifest, source)]
    return found + [f"CEL: {problem}" for problem in cel_problems(manifest)]


# --- The CEL rules, by hand ------------------------------------------------------------------------------------------

HAND_CHECKED_RULES: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("gateway.networking.k8s.io", "HTTPRoute"): {
        "spec.parentRefs": (
            "self.all(p1, self.all(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name && (((!has(p1.__namespace__) || p1.__namespace__ == '') && (!has(p2.__namespace__) || p2.__namespace__ == '')) || (has(p1.__namespace__) && has(p2.__namespace__) && p1.__namespace__ == p2.__namespace__ )) ? ((!has(p1.sectionName) || p1.sectionName == '') == (!has(p2.sectionName) || p2.sectionName == '')) : true))",  # noqa: E501
            "self.all(p1, self.exists_one(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name && (((!has(p1.__namespace__) || p1.__namespace__ == '') && (!has(p2.__namespace__) || p2.__namespace__ == '')) || (has(p1.__namespace__) && has(p2.__namespace__) && p1.__namespace__ == p2.__namespace__ )) && (((!has(p1.sectionName) || p1.sectionName == '') && (!has(p2.sectionName) || p2.sectionName == '')) || (has(p1.sectionName) && has(p2.sectionName) && p1.sectionName == p2.sectionName))))",  # noqa: E501
        ),
        "spec.rules": (
            " + ".join(f"(self.size() > {i} ? self[{i}].matches.size() : 0)" for i in range(16)) + " <= 128",
        ),
        "spec.rules[].backendRefs[]": ("(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true",),
        "spec.rules[].matches[].path": (
            "(self.type in ['Exact','PathPrefix']) ? self.value.startsWith('/') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('//') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('/./') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('/../') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('%2f') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('%2F') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('#') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/..') : true",
            "(self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/.') : true",
            "self.type in ['Exact','PathPrefix'] || self.type == 'RegularExpression'",
            "(self.type in ['Exact','PathPrefix']) ? self.value.matches(r\"\"\"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$\"\"\") : true",  # noqa: E501
        ),
        "spec.rules[].timeouts": (
            "!(has(self.request) && has(self.backendRequest) && duration(self.request) != duration('0s') && duration(self.backendRequest) > duration(self.request))",  # noqa: E501
        ),
    },
    ("gateway.networking.k8s.io", "Gateway"): {
        "spec.listeners": (
            "self.all(l, l.protocol in ['HTTP', 'TCP', 'UDP'] ? !has(l.tls) : true)",
            "self.all(l, (l.protocol == 'HTTPS' && has(l.tls)) ? (l.tls.mode == '' || l.tls.mode == 'Terminate') : true)",
            "self.all(l, (l.protocol == 'TLS' ? has(l.tls) && has(l.tls.mode) && l.tls.mode != '' : true))",
            "self.all(l, l.protocol in ['TCP', 'UDP']  ? (!has(l.hostname) || l.hostname == '') : true)",
            "self.all(l1, self.exists_one(l2, l1.name == l2.name))",
            "self.all(l1, self.exists_one(l2, l1.port == l2.port && l1.protocol == l2.protocol && (has(l1.hostname) && has(l2.hostname) ? l1.hostname == l2.hostname : !has(l1.hostname) && !has(l2.hostname))))",  # noqa: E501
        ),
        "spec.listeners[].tls": (
            "self.mode == 'Terminate' ? size(self.certificateRefs) > 0 || size(self.options) > 0 : true",
        ),
        **{f"spec.infrastructure.{field}": (
            'self.all(key, key.matches(r"""^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$"""))',  # noqa: E501
            'self.all(key, key.split("/")[0].size() < 253)',
        ) for field in ("labels", "annotations")},
    },
    ("gateway.nginx.org", "ClientSettingsPolicy"): {
        "spec.targetRef": ("(self.kind=='Gateway' || self.kind=='HTTPRoute' || self.kind=='GRPCRoute')",
                           "(self.group=='gateway.networking.k8s.io')"),
        "spec.keepAlive.timeout": ("!(has(self.header) && !has(self.server))",),
    },
    ("gateway.nginx.org", "ProxySettingsPolicy"): {
        "spec.targetRefs": (
            "self.all(t, t.kind == 'Gateway' || t.kind == 'HTTPRoute' || t.kind == 'GRPCRoute')",
            "self.all(t, t.group == 'gateway.networking.k8s.io')",
            "self.all(t1, self.exists_one(t2, t1.group == t2.group && t1.kind == t2.kind && t1.name == t2.name))",
            "!(self.exists(t, t.kind == 'Gateway') && self.exists(t, t.kind == 'HTTPRoute' || t.kind == 'GRPCRoute'))",
        ),
    },
    ("gateway.k8s.aws", "LoadBalancerConfiguration"): {
        "spec.listenerConfigurations[].mutualAuthentication": (
            "!(self.mode == 'verify' && !has(self.trustStore))",
            "!(self.mode != 'verify' && has(self.trustStore))",
            "!(self.mode != 'verify' && has(self.ignoreClientCertificateExpiry))",
            "!(self.mode != 'verify' && has(self.advertiseTrustStoreCaNames))",
        ),
    },
    ("gateway.k8s.aws", "TargetGroupConfiguration"): {},
}


UNCHECKED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("gateway.networking.k8s.io", "HTTPRoute"): ("spec.rules[].filters", "spec.rules[].backendRefs[].filters"),
    ("gateway.networking.k8s.io", "Gateway"): ("spec.addresses", "spec.tls"),
}
"""Fields whose CEL rules are not hand-checked (the rules on spec.rules[] are about filters only)."""
FILTER_RULES_PATH = "spec.rules[]"


def values_at(value: Any, path: str, where: str = "") -> Iterator[tuple[str, Any]]:
    """(concrete path, value) of every value at a path like "spec.rules[].filters" in a manifest."""
    head, _, rest = path.partition(".")
    name, arrays = head.rstrip("[]"), head.count("[]")
    if not isinstance(value, dict) or name not in value:
        return
    found: list[tuple[str, Any]] = [(f"{where}.{name}".lstrip("."), value[name])]
    for _ in range(arrays):
        found = [(f"{p}[{i}]", item) for p, items in found if isinstance(items, list) for i, item in enumerate(items)]
    for concrete, item in found:
        if rest:
            yield from values_at(item, rest, concrete)
        else:
            yield concrete, item


def schema_at(schema: Schema, path: str) -> Schema:
    """The schema node at a path like "spec.rules[].matches[].path"."""
    node = schema
    for part in path.split("."):
        name, arrays = part.rstrip("[]"), part.count("[]")
        node = node["properties"][name]
        for _ in range(arrays):
            node = node["items"]
    return node


def _duration(text: str) -> float:
    """Seconds of a Gateway API Duration (a Go duration restricted to h, m, s, ms), as CEL's duration() reads it."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", text))


def _filled(item: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    return {**defaults, **item} if isinstance(item, dict) else {}


def _httproute(spec: dict[str, Any]) -> Iterator[str]:
    parent_defaults = {"group": "gateway.networking.k8s.io", "kind": "Gateway"}
    parents = [_filled(p, parent_defaults) for p in spec.get("parentRefs", [])]
    for i, p1 in enumerate(parents):
        same = [p2 for p2 in parents if all(p1.get(k) == p2.get(k) for k in ("group", "kind", "name"))
                and (p1.get("namespace") or "") == (p2.get("namespace") or "")]
        if any(bool(p1.get("sectionName")) != bool(p2.get("sectionName")) for p2 in same):
            yield f"spec.parentRefs[{i}]: sectionName must be specified when parentRefs includes 2 or more references " \
                  "to the same parent"
        if sum((p1.get("sectionName") or "") == (p2.get("sectionName") or "") for p2 in same) != 1:
            yield f"spec.parentRefs[{i}]: sectionName must be unique when parentRefs includes 2 or more references to " \
                  "the same parent"
    default_match = {"path": {"type": "PathPrefix", "value": "/"}}
    rules = spec.get("rules", [{"matches": [default_match]}])
    if sum(len(r.get("matches", [default_match])) for r in rules[:16] if isinstance(r, dict)) > 128:
        yield "spec.rules: the total number of matches across all rules in a route must be less than 128"
    for r, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        for m, match in enumerate(rule.get("matches", [default_match])):
            path = _filled(match.get("path", default_match["path"]) if isinstance(match, dict) else {},
                           {"type": "PathPrefix", "value": "/"})
            yield from (f"spec.rules[{r}].matches[{m}].path: {problem}" for problem in _path_problems(path))
        for b, ref in enumerate(rule.get("backendRefs", [])):
            ref = _filled(ref, {"group": "", "kind": "Service"})
            if ref["group"] == "" and ref["kind"] == "Service" and "port" not in ref:
                yield f"spec.rules[{r}].backendRefs[{b}]: Must have port for Service reference"
        timeouts = rule.get("timeouts", {})
        if isinstance(timeouts, dict) and {"request", "backendRequest"} <= timeouts.keys():
            request, backend = _duration(str(timeouts["request"])), _duration(str(timeouts["backendRequest"]))
            if request != 0 and backend > request:
                yield f"spec.rules[{r}].timeouts: backendRequest timeout cannot be longer than request timeout"


def _path_problems(path: dict[str, Any]) -> Iterator[str]:
    kind, value = path.get("type"), str(path.get("value"))
    if kind not in ("Exact", "PathPrefix", "RegularExpression"):
        yield "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']"
    if kind not in ("Exact", "PathPrefix"):
        return
    if not value.startswith("/"):
        yield "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"
    for part in ("//", "/./", "/../", "%2f", "%2F", "#"):
        if part in value:
            yield f"must not contain {part!r} when type one of ['Exact', 'PathPrefix']"
    for end in ("/..", "/."):
        if value.endswith(end):
            yield f"must not end with {end!r} when type one of ['Exact', 'PathPrefix']"
    if not re.fullmatch(r"(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+", value):
        yield "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$)"


QUALIFIED_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                           r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")


def _gateway(spec: dict[str, Any]) -> Iterator[str]:
    listeners = [_filled(listener, {}) for listener in spec.get("listeners", [])]
    for listener in listeners:
        if isinstance(listener.get("tls"), dict):
            listener["tls"] = {"mode": "Terminate", **listener["tls"]}
    for i, listener in enumerate(listeners):
        where, protocol, tls = f"spec.listeners[{i}]", listener.get("protocol"), listener.get("tls")
        if protocol in ("HTTP", "TCP", "UDP") and tls is not None:
            yield f"{where}: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"
        if protocol == "HTTPS" and isinstance(tls, dict) and tls.get("mode") not in ("", "Terminate"):
            yield f"{where}: tls mode must be Terminate for protocol HTTPS"
        if protocol == "TLS" and not (isinstance(tls, dict) and tls.get("mode")):
            yield f"{where}: tls mode must be set for protocol TLS"
        if protocol in ("TCP", "UDP") and listener.get("hostname"):
            yield f"{where}: hostname must not be specified for protocols ['TCP', 'UDP']"
        if sum(other.get("name") == listener.get("name") for other in listeners) != 1:
            yield f"{where}: Listener name must be unique within the Gateway"
        if sum((other.get("port"), other.get("protocol"), other.get("hostname"))
               == (listener.get("port"), protocol, listener.get("hostname")) for other in listeners) != 1:
            yield f"{where}: Combination of port, protocol and hostname must be unique for each listener"
        if isinstance(tls, dict) and tls.get("mode") == "Terminate" and not (tls.get("certificateRefs") or tls.get("options")):
            yield f"{where}.tls: certificateRefs or options must be specified when mode is Terminate"
    infrastructure = spec.get("infrastructure", {})
    for field in ("labels", "annotations"):
        for key in (infrastructure.get(field) or {}) if isinstance(infrastructure, dict) else {}:
            if not QUALIFIED_KEY.match(key) or len(key.split("/")[0]) >= 253:
                yield f"spec.infrastructure.{field}: {key!r} is not an optional DNS subdomain prefix and a name segment " \
                      "of up to 63 characters"


TARGET_KINDS = ("Gateway", "HTTPRoute", "GRPCRoute")


def _target(where: str, ref: Any) -> Iterator[str]:
    ref = _filled(ref, {})
    if ref.get("kind") not in TARGET_KINDS:
        yield f"{where}: TargetRef Kind must be one of: Gateway, HTTPRoute, or GRPCRoute"
    if ref.get("group") != "gateway.networking.k8s.io":
        yield f"{where}: TargetRef Group must be gateway.networking.k8s.io"


def _client_settings(spec: dict[str, Any]) -> Iterator[str]:
    yield from _target("spec.targetRef", spec.get("targetRef"))
    timeout = (spec.get("keepAlive") or {}).get("timeout") or {}
    if "header" in timeout and "server" not in timeout:
        yield "spec.keepAlive.timeout: header can only be specified if server is specified"


def _proxy_settings(spec: dict[str, Any]) -> Iterator[str]:
    refs = [_filled(ref, {}) for ref in spec.get("targetRefs", [])]
    for i, ref in enumerate(refs):
        yield from _target(f"spec.targetRefs[{i}]", ref)
        if sum(all(ref.get(k) == other.get(k) for k in ("group", "kind", "name")) for other in refs) != 1:
            yield f"spec.targetRefs[{i}]: TargetRef Kind and Name combination must be unique"
    kinds = {ref.get("kind") for ref in refs}
    if "Gateway" in kinds and kinds & {"HTTPRoute", "GRPCRoute"}:
        yield "spec.targetRefs: Cannot mix Gateway kind with HTTPRoute or GRPCRoute kinds in targetRefs"


def _load_balancer(spec: dict[str, Any]) -> Iterator[str]:
    for i, listener in enumerate(spec.get("listenerConfigurations", [])):
        auth = _filled(listener, {}).get("mutualAuthentication")
        if not isinstance(auth, dict):
            continue
        where = f"spec.listenerConfigurations[{i}].mutualAuthentication"
        if auth.get("mode") == "verify" and "trustStore" not in auth:
            yield f"{where}: trustStore is required when mutualAuthentication mode is 'verify'"
        for field in ("trustStore", "ignoreClientCertificateExpiry", "advertiseTrustStoreCaNames"):
            if auth.get("mode") != "verify" and field in auth:
                yield f"{where}: Mutual Authentication mode 'off' or 'passthrough' does not support '{field}'"


CEL_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], Iterator[str]]] = {
    ("gateway.networking.k8s.io", "HTTPRoute"): _httproute,
    ("gateway.networking.k8s.io", "Gateway"): _gateway,
    ("gateway.nginx.org", "ClientSettingsPolicy"): _client_settings,
    ("gateway.nginx.org", "ProxySettingsPolicy"): _proxy_settings,
    ("gateway.k8s.aws", "LoadBalancerConfiguration"): _load_balancer,
}


def cel_problems(manifest: dict[str, Any]) -> list[str]:
    """What the hand-checked CEL rules (HAND_CHECKED_RULES) refuse; [] for a kind without any."""
    group, _ = group_version(str(manifest.get("apiVersion", "")))
    key = (group, str(manifest.get("kind")))
    check = CEL_CHECKS.get(key)
    spec = manifest.get("spec")
    found = list(check(spec)) if check and isinstance(spec, dict) else []
    for field in UNCHECKED_FIELDS.get(key, ()):
        found += [f"{where}: its CEL rules are not hand-checked (tests/crd_schema.py UNCHECKED_FIELDS): add them"
                  for where, _ in values_at(manifest, field)]
    return found
