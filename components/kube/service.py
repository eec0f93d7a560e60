"""The in-cluster address of a workload: a ClusterIP Service whose ports target the containers' named ports."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def cluster_ip_service(name: str, metadata: dict[str, Any], selector: dict[str, str], ports: dict[str, int],
                       parent: pulumi.Resource) -> k8s.core.v1.Service:
    """`ports` maps each container port's name to the Service port that forwards to it."""
    return k8s.core.v1.Service(
        name,
        metadata={**metadata, "name": name},
        spec={
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": port_name, "port": port, "targetPort": port_name} for port_name, port in ports.items()],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
