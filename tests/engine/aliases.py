"""How the engine matches a resource to its old state, so a renamed resource is moved instead of replaced.

pulumi/pulumi pkg/resource/deploy/step_generator.go: generateSteps looks the old state up by the resource's URN, then
by each alias generateAliases computes: collapseAliasToUrn for the resource's own aliases (an empty name or type is
the resource's own; no parent given is its current parent; the root stack as parent means none), and
inheritedChildAlias for a child whose parent was itself found through an alias (a child named `<parent name>-x` is
looked up as `<parent's old name>-x`). The old URN an alias matched is remembered for the resource's children.
The Python SDK sends aliases as specs (sdk/python/lib/pulumi/runtime/resource.py, create_alias_spec). A URN is
`urn:pulumi:<stack>::<project>::<parent's qualified type>$<type>::<name>` (sdk/go/common/resource/urn.go, NewURN).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

ROOT_STACK = "pulumi:pulumi:Stack"


class Registered(Protocol):
    @property
    def urn(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> str: ...
    @property
    def aliases(self) -> tuple[dict[str, Any], ...]: ...


def qualified_type(urn: str) -> str:
    return urn.split("::")[2]


def type_of(urn: str) -> str:
    return qualified_type(urn).split("$")[-1]


def name_of(urn: str) -> str:
    return urn.split("::", 3)[3]


def new_urn(stack: str, project: str, parent_type: str, type_: str, name: str) -> str:
    qualified = f"{parent_type}${type_}" if parent_type else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def create_urn(name: str, type_: str, parent: str, project: str, stack: str) -> str:
    return new_urn(stack, project, qualified_type(parent) if parent else "", type_, name)


def engine_urns(resources: Iterable[Registered]) -> dict[str, str]:
    """The URN the engine gives each resource, by the URN the mocks gave it. The mocks' differ
    (sdk/python/lib/pulumi/runtime/mocks.py, make_urn): they prefix the root stack's type to its children and keep only
    the parent's last type, where the engine qualifies a child with its parent's whole type chain and the root stack
    with nothing (step_generator.go, generateURN)."""
    engine: dict[str, str] = {}
    for resource in resources:  # registration order: a parent before its children
        stack, project = resource.urn.split("::")[0].removeprefix("urn:pulumi:"), resource.urn.split("::")[1]
        engine[resource.urn] = create_urn(resource.name, resource.type, engine.get(resource.parent, ""), project, stack)
    return engine


@dataclass
class Matching:
    """The engine's view of an update: which old URN each resource takes over, which olds nothing claims."""

    moved: dict[str, str] = field(default_factory=dict)
    """Engine URN -> the old URN it was found under through an alias."""
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def match(resources: Iterable[Registered], olds: Iterable[str]) -> Matching:
    """Match resources, in registration order (parents first, as the engine sees them), against the old URNs."""
    resources = list(resources)
    engine = engine_urns(resources)
    old_urns = set(olds)
    result = Matching()
    claimed: set[str] = set()
    for resource in resources:
        urn = engine[resource.urn]
        stack, project = urn.split("::")[0].removeprefix("urn:pulumi:"), urn.split("::")[1]
        parent = engine.get(resource.parent, "")
        specs = [{**spec, "parentUrn": engine.get(spec.get("parentUrn") or "", spec.get("parentUrn") or "")}
                 for spec in resource.aliases]
        candidates = [urn, *aliases(urn, specs, parent, stack, project, result.moved)]
        found = next((candidate for candidate in candidates if candidate in old_urns), None)
        if found is None:
            result.created.append(urn)
            continue
        claimed.add(found)
        if found != urn:
            result.moved[urn] = found
    result.deleted = sorted(old_urns - claimed)
    return result


def aliases(urn: str, specs: list[dict[str, Any]], parent: str, stack: str, project: str,
            moved: dict[str, str]) -> list[str]:
    """generateAliases: the resource's own aliases, then those inherited from a parent found through an alias."""
    own = [collapse(urn, spec, parent, stack, project, moved) for spec in specs]
    found: list[str] = list(own)
    if parent and parent in moved:
        parent_alias, parent_name = moved[parent], name_of(parent)
        for type_, name in [(type_of(urn), name_of(urn)), *((type_of(u), name_of(u)) for u in own)]:
            alias_name = name_of(parent_alias) + name.removeprefix(parent_name) if name.startswith(parent_name) else name
            found.append(new_urn(stack, project, qualified_type(parent_alias), type_, alias_name))
    return list(dict.fromkeys(found))


def collapse(urn: str, spec: dict[str, Any], parent: str, stack: str, project: str, moved: dict[str, str]) -> str:
    """collapseAliasToUrn."""
    if spec.get("urn"):
        return str(spec["urn"])
    alias_parent = spec.get("parentUrn") or ""
    alias_parent = moved.get(alias_parent, alias_parent) if alias_parent else parent
    if spec.get("noParent") or (alias_parent and type_of(alias_parent) == ROOT_STACK):
        alias_parent = ""
    return create_urn(spec.get("name") or name_of(urn), spec.get("type") or type_of(urn), alias_parent,
                      spec.get("project") or project, spec.get("stack") or stack)
