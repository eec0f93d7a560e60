"""Voluntary disruptions (node drains, upgrades) never take down every pod of a replicated workload at once."""

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

ONE_AT_A_TIME = {"maxUnavailable": 1}


def one_at_a_time(name: str, metadata: dict[str, Any], selector: dict[str, str],
                  parent: pulumi.Resource, budget: dict[str, int | str] | None = None) -> k8s.policy.v1.PodDisruptionBudget:
    """A PodDisruptionBudget that lets a drain evict one of the selected pods at a time, or as `budget` says
    (maxUnavailable or minAvailable, a count or a percentage)."""
    return k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata={**metadata, "name": name},
        spec={**(budget or ONE_AT_A_TIME), "selector": {"matchLabels": selector}},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def budget_problems(budget: Mapping[str, Any], min_replicas: int) -> list[str]:
    """A budget a drain can always satisfy: exactly one of maxUnavailable/minAvailable (policy/v1 takes either, a
    count or a percentage), never one that forbids every eviction (a node drain would then wait forever)."""
    if set(budget) not in ({"maxUnavailable"}, {"minAvailable"}):
        return [f"{dict(budget)!r} needs exactly one of maxUnavailable or minAvailable"]
    (field, value), = budget.items()
    if isinstance(value, bool) or not ((isinstance(value, int) and value >= 0)
                                       or (isinstance(value, str) and re.fullmatch(r"(100|[1-9]?[0-9])%", value))):
        return [f"{field} {value!r} is not a count (0 or more) or a percentage like 50%"]
    blocks = (field == "maxUnavailable" and value in (0, "0%")) or (field == "minAvailable" and (
        value == "100%" or (isinstance(value, int) and value >= min_replicas)))
    return [f"{field} {value!r} with {min_replicas} replica(s) lets no pod be evicted: a node drain would wait "
            "for ever"] if blocks else []
