"""Who may talk to whom, both ways, under a namespace-wide default deny: each data store admits only its clients
and connects nowhere; the server admits its front door and labelled clients on its API port and Prometheus on the one
port it scrapes, and reaches the cluster's DNS, its database and its object store, and 443 only where something it uses
lives there (S3, token issuers, providers).

Traffic from a pod's own node (the kubelet's probes) is always allowed (kubernetes.io/docs/concepts/
services-networking/network-policies: "traffic to and from the node where a Pod is running is always allowed")."""

from typing import Any, overload

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.conversion import args_of
from mlflow_platform.inputs import NetworkPoliciesInputs
from mlflow_platform.kube.labels import standard_labels
from mlflow_platform.network_policies.args import NetworkPoliciesArgs
from mlflow_platform.outputs import registered_outputs

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


# The cluster's DNS: CoreDNS in kube-system, labelled k8s-app: kube-dns by kubeadm (kind's nodes are kubeadm's:
# cmd/kubeadm/app/phases/addons/dns/manifests.go) and by EKS's CoreDNS add-on; k3s and minikube use the same label.
# Both selectors in one peer (AND): no pod of another namespace that copies the label answers on 53.
KUBE_DNS = pods_in(["kube-system"], {"k8s-app": "kube-dns"})
DNS_EGRESS = {
    "to": [KUBE_DNS],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
# No public service has these addresses: the private networks of RFC 1918, link-local (RFC 3927; with the instance
# metadata service, 169.254.169.254), the shared address space of RFC 6598 (carrier-grade NAT, and the secondary
# CIDR EKS custom networking gives pods) and loopback.
NOT_PUBLIC_IPV4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
PUBLIC_IPV4 = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_PUBLIC_IPV4)}}]
# cloudflared connects to Cloudflare's edge on 7844 (QUIC over UDP, or TCP) and calls its API on 443
# (developers.cloudflare.com/cloudflare-one/connections/connect-networks/deploy-tunnels/tunnel-with-firewall).
CLOUDFLARE_EDGE_PORTS = [{"protocol": "UDP", "port": 7844}, {"protocol": "TCP", "port": 7844},
                         {"protocol": "TCP", "port": 443}]

__all__ = ["CLIENT_LABEL", "NetworkPolicies", "NetworkPoliciesArgs"]


class NetworkPolicies(pulumi.ComponentResource):
    """A namespace-wide default deny, then one policy per workload: whom it admits and where it may connect."""

    policy_names: list[str]
    """Every NetworkPolicy, the default deny first."""

    @overload
    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    @overload
    def __init__(self, name: str, args: NetworkPoliciesInputs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    # The annotation is NetworkPoliciesInputs, which the schema is inferred from; Python programs may pass either form.
    def __init__(self, name: str, args: NetworkPoliciesInputs, opts: pulumi.ResourceOptions | None = None) -> None:  # type: ignore[misc]
        config = args_of(NetworkPoliciesArgs, args)
        super().__init__("mlflow-platform:index:NetworkPolicies", name, None, opts)
        self._declare(name, config)

    def _declare(self, name: str, args: NetworkPoliciesArgs) -> None:
        self._args = args
        self._name = name
        self.policy_names = []
        database_peers = [pods(args.database)] if args.database else [{"ipBlock": {"cidr": args.database_cidr}}]
        # No port: the database is a file on the server's volume (sqlite), reached over no network.
        to_database = ([{"to": database_peers, "ports": tcp(args.database_port)}] if args.database_port is not None
                       else [])
        # With a pooler, what the server, the jobs pod and gc connect to instead of the database.
        to_pooler = ([{"to": [pods(args.pooler)], "ports": tcp(args.pooler_port)}]
                     if args.pooler and args.pooler_port is not None else [])
        to_sessions = to_pooler or to_database
        # Without MinIO the store is S3, on 443 (https_egress), or a store of the team's: its network on its port, or
        # 443 (https_egress) when no network is given.
        to_store = [{"to": [pods(args.object_store)], "ports": tcp(args.object_store_port)}] if args.object_store else []
        to_remote_store = [{"to": [{"ipBlock": {"cidr": args.object_store_cidr}}], "ports": tcp(args.object_store_port)}
                           ] if args.object_store_cidr else []
        to_https = [{"to": ANYWHERE, "ports": tcp(443)}] if args.https_egress else []
        prometheus = pods_in([args.monitoring_namespace], args.prometheus)
        # Prometheus scrapes the metrics sidecar when there is one (the auth app answers 401 on /metrics), else
        # /metrics on the API port: Monitoring's ServiceMonitor names the same port. Only there is it admitted.
        scraped_port = args.server_metrics_port if args.server_metrics_port is not None else args.server_port
        clients = [pods({CLIENT_LABEL: "true"})]
        clients += [pods_in(list(args.client_namespaces), {CLIENT_LABEL: "true"})] if args.client_namespaces else []
        # Behind oauth2-proxy every person comes through it: nobody else reaches the server but Prometheus and
        # the labelled clients, which sign in with their own tokens. Without it (dev) the ingress controller
        # proxies to the server itself.
        # An ALB's ip targets are the pods themselves: it connects from its subnets.
        proxies = [namespaces([args.ingress_namespace]),
                   *([{"ipBlock": {"cidr": args.ingress_cidr}}] if args.ingress_cidr is not None else [])]
        front = [pods(args.oauth2_proxy)] if args.oauth2_proxy else proxies
        callers = [*front, *clients]
        servers = [("server", args.server), *([("jobs", args.jobs)] if args.jobs else [])]
        to_servers = {"to": [pods(selector) for _, selector in servers], "ports": tcp(args.server_port)}
        # Nothing in the namespace admits or connects unless a policy below says so.
        self._policy("default-deny", {}, ingress=[], egress=[])
        for suffix, selector in servers:
            # The jobs pod is the server with job execution on: the same callers (the front door routes job
            # submissions to it) and the same stores. Prometheus scrapes the server's Service only, not the jobs pod.
            self._policy(suffix, selector,
                         ingress=[{"from": callers, "ports": tcp(args.server_port)},
                                  *([{"from": [prometheus], "ports": tcp(scraped_port)}]
                                    if suffix == "server" and args.scraped else [])],
                         egress=[DNS_EGRESS, *to_sessions, *to_store, *to_remote_store, *to_https])
        self._policy("migration", args.migration, ingress=[], egress=[DNS_EGRESS, *to_database])
        # Labelled clients in this namespace: MLflow, and 443 for the presigned S3 transfers its client makes.
        self._policy("clients", {CLIENT_LABEL: "true"}, ingress=[],
                     egress=[DNS_EGRESS, to_servers, {"to": ANYWHERE, "ports": tcp(443)}])
        if args.pooler and args.pooler_port is not None:
            # PgBouncer admits the server, the jobs pod and gc, and connects only to the database.
            self._policy("pooler", args.pooler, ingress=[{
                "from": [*(pods(selector) for _, selector in servers), *([pods(args.gc)] if args.gc else [])],
                "ports": tcp(args.pooler_port)}], egress=[DNS_EGRESS, *to_database])
        if args.database and args.database_port is not None:
            pool_clients = [pods(args.pooler)] if args.pooler else [pods(selector) for _, selector in servers]
            clients = [*pool_clients, pods(args.migration), *(pods(c) for c in args.database_clients)]
            self._policy("postgres", args.database, ingress=[
                {"from": clients, "ports": tcp(args.database_port)},
                *([{"from": [prometheus], "ports": tcp(9187)}] if args.scraped else []),
            ], egress=[])
        if args.object_store:
            clients = [*(pods(selector) for _, selector in servers), *(pods(c) for c in args.object_store_clients)]
            clients += [pods(args.object_store_setup)] if args.object_store_setup else []
            self._policy("minio", args.object_store, ingress=[{"from": clients, "ports": tcp(args.object_store_port)}],
                         egress=[])
        if args.object_store_setup:
            self._policy("minio-setup", args.object_store_setup, ingress=[], egress=[DNS_EGRESS, *to_store])
        if args.backup:
            self._policy("backup", args.backup, ingress=[], egress=[DNS_EGRESS, *to_database, *to_store])
        if args.gc:
            self._policy("gc", args.gc, ingress=[],
                         egress=[DNS_EGRESS, *to_sessions, *to_store, *to_remote_store, *to_https])
        if args.oauth2_proxy:
            # cloudflared dials Cloudflare's edge, whose addresses are all public: never the VPC, the nodes, the
            # metadata service or another pod. oauth2-proxy fetches its issuer's discovery document and keys on 443,
            # and an issuer may well be private (a Keycloak or Dex in the VPC or the cluster, a corporate IdP over
            # a VPN): any address. The server's 443 (to_https) stays any address too: S3 and STS through interface
            # VPC endpoints answer on private addresses (docs/front-doors.md, Network policies).
            outside = ({"to": PUBLIC_IPV4, "ports": CLOUDFLARE_EDGE_PORTS} if args.front_door_name == "cloudflared"
                       else {"to": ANYWHERE, "ports": tcp(443)})
            self._policy(args.front_door_name, args.oauth2_proxy, ingress=[
                {"from": proxies, "ports": tcp(args.oauth2_proxy_port)}
            ] if args.oauth2_proxy_port else [], egress=[DNS_EGRESS, to_servers, outside])
        self.register_outputs(registered_outputs(self))

    def _policy(self, suffix: str, selector: dict[str, str], ingress: list[dict[str, Any]],
                egress: list[dict[str, Any]] | None = None) -> None:
        name = f"{self._name}-{suffix}"
        self.policy_names.append(name)
        spec: dict[str, Any] = {"podSelector": {"matchLabels": selector} if selector else {}, "policyTypes": ["Ingress"],
                                "ingress": ingress}
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
