"""The network area: whether to declare NetworkPolicies, and which namespaces may call the server."""

from dataclasses import dataclass

from components.validation import dns_label_problem
from settings.reader import ConfigReader


@dataclass(frozen=True)
class NetworkSettings:
    ingress_namespace: str
    monitoring_namespace: str
    client_namespaces: tuple[str, ...]


def read_network(read: ConfigReader) -> NetworkSettings | None:
    """None when NetworkPolicies are off."""
    settings = NetworkSettings(
        ingress_namespace=read.string("ingressControllerNamespace", check=dns_label_problem),
        monitoring_namespace=read.string("monitoringNamespace", check=dns_label_problem),
        client_namespaces=read.string_list("networkClientNamespaces", check=dns_label_problem),
    )
    return settings if read.boolean("networkPolicies") else None
