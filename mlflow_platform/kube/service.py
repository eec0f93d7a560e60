"""The in-cluster address of a workload: a ClusterIP Service whose ports target the containers' named ports."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def cluster_ip_service(name: str, metadata: dict[str, Any], selector: dict[str, str], ports: dict[str, int],
                       parent: pulumi.Resource, service_type: str = "ClusterIP",
                       annotations: dict[str, str] | None = None) -> k8s.core.v1.Service:
    """`ports` maps each container port's name to the Service port that forwards to it. Another `service_type`
    (NodePort, LoadBalancer) keeps the ClusterIP and adds a way in from outside."""
    return k8s.core.v1.Service(
        name,
        metadata={**metadata, "name": name, **({"annotations": annotations} if annotations else {})},
        spec={
            "type": service_type,
            "selector": selector,
            "ports": [{"name": port_name, "port": port, "targetPort": port_name} for port_name, port in ports.items()],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
