"""Who may talk to whom: each data store admits only its clients; the server only the ingress, monitoring
and configured clients, and reaches out only to DNS, its database and its object store."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kube.labels import standard_labels
from components.network_policies.args import NetworkPoliciesArgs

CLIENT_LABEL = "mlflow-platform/client"
"""Same-namespace pods with this label set to "true" may call the MLflow server."""


def pods(selector: dict[str, str]) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": selector}}


def namespaces(names: list[str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": names}]}}


def pods_in(names: list[str], selector: dict[str, str]) -> dict[str, Any]:
    """Pods with these labels in these namespaces (both selectors in one peer: AND)."""
    return {**namespaces(names), **pods(selector)}


def tcp(*numbers: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": n} for n in numbers]


DNS_EGRESS = {
    "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]

__all__ = ["CLIENT_LABEL", "NetworkPolicies", "NetworkPoliciesArgs"]


class NetworkPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlflow-platform:index:NetworkPolicies", name, None, opts)
        self._args = args
        self._name = name
        database_peers = [pods(args.database)] if args.database else ANYWHERE
        store_peers = [pods(args.object_store)] if args.object_store else ANYWHERE
        store_port = args.object_store_port if args.object_store else 443
        prometheus = pods_in([args.monitoring_namespace], args.prometheus)
        clients = [pods({CLIENT_LABEL: "true"})]
        clients += [pods_in(list(args.client_namespaces), {CLIENT_LABEL: "true"})] if args.client_namespaces else []
        # Behind oauth2-proxy every person comes through it: nobody else reaches the server but Prometheus and
        # the labelled clients, which sign in with their own tokens. Without it (dev) the ingress controller
        # proxies to the server itself.
        front = [pods(args.oauth2_proxy)] if args.oauth2_proxy else [namespaces([args.ingress_namespace])]
        callers = [*front, prometheus, *clients]
        servers = [("server", args.server), *([("jobs", args.jobs)] if args.jobs else [])]
        for suffix, selector in servers:
            # The jobs pod is the server with job execution on: the same callers (the front door routes job
            # submissions to it), the same stores, and 443 for the LLM providers its judges call.
            self._policy(suffix, selector,
                         ingress=[{"from": callers, "ports": tcp(args.server_port)},
                                  *([{"from": [prometheus], "ports": tcp(args.server_metrics_port)}]
                                    if args.server_metrics_port and suffix == "server" else [])],
                         egress=[DNS_EGRESS, {"to": database_peers, "ports": tcp(args.database_port)},
                                 # S3 and STS (IRSA) on 443, or MinIO in the namespace.
                                 {"to": store_peers, "ports": tcp(store_port)},
                                 {"to": ANYWHERE, "ports": tcp(443)}])
        self._policy("migration", args.migration, ingress=[],
                     egress=[DNS_EGRESS, {"to": database_peers, "ports": tcp(args.database_port)}])
        if args.database:
            clients = [*(pods(selector) for _, selector in servers), pods(args.migration),
                       *(pods(c) for c in args.database_clients)]
            self._policy("postgres", args.database, ingress=[
                {"from": clients, "ports": tcp(args.database_port)},
                {"from": [prometheus], "ports": tcp(9187)},
            ])
        if args.object_store:
            clients = [*(pods(selector) for _, selector in servers), *(pods(c) for c in args.object_store_clients)]
            clients += [pods(args.object_store_setup)] if args.object_store_setup else []
            self._policy("minio", args.object_store, ingress=[{"from": clients, "ports": tcp(args.object_store_port)}])
        if args.oauth2_proxy:
            self._policy(args.front_door_name, args.oauth2_proxy, ingress=[
                {"from": [namespaces([args.ingress_namespace])], "ports": tcp(args.oauth2_proxy_port)}
            ] if args.oauth2_proxy_port else [])
        self.register_outputs({})

    def _policy(self, suffix: str, selector: dict[str, str], ingress: list[dict[str, Any]],
                egress: list[dict[str, Any]] | None = None) -> None:
        name = f"{self._name}-{suffix}"
        spec: dict[str, Any] = {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"], "ingress": ingress}
        if egress is not None:
            spec["policyTypes"].append("Egress")
            spec["egress"] = egress
        k8s.networking.v1.NetworkPolicy(
            name,
            metadata={"name": name, "namespace": self._args.namespace,
                      "labels": standard_labels("mlflow", self._name, "network-policy")},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )
