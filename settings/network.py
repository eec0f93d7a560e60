"""The network area: whether to declare NetworkPolicies, which namespaces may call the server, and where pods may
connect out to."""

from dataclasses import dataclass

import pulumi

from settings.cluster import ClusterFacts
from settings.reader import ConfigReader


@dataclass(frozen=True)
class NetworkSettings:
    ingress_namespace: str
    monitoring_namespace: str
    client_namespaces: tuple[str, ...]
    database_cidr: pulumi.Input[str] | None
    """Where an out-of-cluster database is reached (a CIDR, or the cluster stack's output); None in-cluster."""
    allow_https_egress: bool
    """networkAllowHttpsEgress: the server may reach any address on 443 even when nothing else needs it."""
    ingress_cidr: pulumi.Input[str] | None = None
    """Where a load balancer outside the cluster sends to the front door's pods from (an ALB's ip targets)."""


def read_network(read: ConfigReader, cluster: ClusterFacts, database_in_cluster: bool,
                 load_balancer_in_vpc: bool = False) -> NetworkSettings | None:
    """None when NetworkPolicies are off. `load_balancer_in_vpc`: an ALB sends to the pods from its subnets, which
    are the VPC's."""
    ingress_namespace = read.string("ingressControllerNamespace")
    monitoring_namespace = read.string("monitoringNamespace")
    client_namespaces = read.string_list("networkClientNamespaces")
    allow_https_egress = read.boolean("networkAllowHttpsEgress")
    if not read.boolean("networkPolicies"):
        return None
    database_cidr: pulumi.Input[str] | None = None
    if not database_in_cluster:
        given = read.optional("databaseCidr")
        database_cidr = given or cluster.get(
            "vpcCidr", "networkPolicies with a database outside the cluster (its egress on the database's port)")
    vpc = "networkPolicies with an ALB (gatewayController aws-alb), which sends to the pods from the VPC"
    return NetworkSettings(ingress_namespace=ingress_namespace, monitoring_namespace=monitoring_namespace,
                           client_namespaces=client_namespaces, database_cidr=database_cidr,
                           allow_https_egress=allow_https_egress,
                           ingress_cidr=cluster.get("vpcCidr", vpc) if load_balancer_in_vpc else None)
