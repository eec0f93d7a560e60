"""Voluntary disruptions (node drains, upgrades) never take down every pod of a replicated workload at once."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def one_at_a_time(name: str, metadata: dict[str, Any], selector: dict[str, str],
                  parent: pulumi.Resource) -> k8s.policy.v1.PodDisruptionBudget:
    """A PodDisruptionBudget that lets a drain evict one of the selected pods at a time."""
    return k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata={**metadata, "name": name},
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        opts=pulumi.ResourceOptions(parent=parent),
    )
