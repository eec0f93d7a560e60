"""The scrape configuration prometheus-operator generates from a ServiceMonitor, and the targets Kubernetes service
discovery would hand it: what a cluster's Prometheus really scrapes, for a Prometheus run here.

The job follows prometheus-operator's generateServiceMonitorConfig (pkg/prometheus/promcfg.go, at the commit named in
tests/data/prometheus-operator/SOURCE.md), for what ServiceMonitors here use (selector matchLabels and In
expressions, a named port, path, interval; the default `endpoints` discovery role, one shard);
tests/test_prometheus_operator_config.py holds it to the operator's own golden file. Anything else is refused, not
approximated.

Targets are what Prometheus's `endpoints` role discovers (discovery/kubernetes/endpoints.go): one per Service port
and selected pod, with the `__meta_kubernetes_*` labels the relabelling reads. Given to Prometheus as file_sd
target labels, they are relabelled exactly as discovered ones would be (meta labels are dropped only after
relabelling: scrape/target.go, PopulateLabels).
"""

import re
from dataclasses import dataclass
from typing import Any

SUPPORTED_ENDPOINT_FIELDS = {"port", "path", "interval"}


def sanitized(name: str) -> str:
    """promcfg.go sanitizeLabelName: what a Kubernetes label's name becomes in a Prometheus label's."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def scrape_jobs(monitor: dict[str, Any]) -> list[dict[str, Any]]:
    """One job per endpoint, as the operator writes them (kubernetes_sd_configs and `$(SHARD)` included)."""
    spec, namespace, name = monitor["spec"], monitor["metadata"]["namespace"], monitor["metadata"]["name"]
    unsupported = set(spec) - {"selector", "namespaceSelector", "endpoints"}
    assert not unsupported, f"ServiceMonitor fields this model does not follow: {unsupported}"
    selector = spec["selector"]
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    namespaces = spec.get("namespaceSelector", {}).get("matchNames", [namespace])
    jobs = []
    for index, endpoint in enumerate(spec["endpoints"]):
        assert set(endpoint) <= SUPPORTED_ENDPOINT_FIELDS, endpoint
        relabel: list[dict[str, Any]] = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
        # The selector (the default `Relabel` mechanism): a keep per label, keys sorted.
        for key, value in sorted(selector.get("matchLabels", {}).items()):
            relabel.append({"action": "keep", "source_labels": [f"__meta_kubernetes_service_label_{sanitized(key)}",
                                                                f"__meta_kubernetes_service_labelpresent_{sanitized(key)}"],
                            "regex": f"({value});true"})
        for expression in selector.get("matchExpressions", []):
            assert expression["operator"] == "In", expression
            key = sanitized(expression["key"])
            relabel.append({"action": "keep", "source_labels": [f"__meta_kubernetes_service_label_{key}",
                                                                f"__meta_kubernetes_service_labelpresent_{key}"],
                            "regex": f"({'|'.join(expression['values'])});true"})
        relabel += [
            {"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": endpoint["port"]},
            *({"source_labels": ["__meta_kubernetes_endpoint_address_target_kind",
                                 "__meta_kubernetes_endpoint_address_target_name"],
               "separator": ";", "regex": f"{kind};(.*)", "replacement": "${1}", "target_label": label}
              for kind, label in (("Node", "node"), ("Pod", "pod"))),
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
            {"target_label": "endpoint", "replacement": endpoint["port"]},
            # Sharding: prometheus-config-reloader replaces $(SHARD) with the shard's number.
            {"source_labels": ["__address__", "__tmp_hash"], "target_label": "__tmp_hash", "regex": "(.+);",
             "replacement": "$1", "action": "replace"},
            {"source_labels": ["__tmp_hash"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
            {"source_labels": ["__tmp_hash", "__tmp_disable_sharding"], "regex": "$(SHARD);|.+;.+", "action": "keep"},
        ]
        job: dict[str, Any] = {
            "job_name": f"serviceMonitor/{namespace}/{name}/{index}",
            "honor_labels": False,
            "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": namespaces}}],
            **({"scrape_interval": endpoint["interval"]} if "interval" in endpoint else {}),
            **({"metrics_path": endpoint["path"]} if "path" in endpoint else {}),
            "relabel_configs": relabel,
        }
        jobs.append(job)
    return jobs


@dataclass(frozen=True)
class Pod:
    """A pod as the cluster runs it: its name, IP, labels and containers (from a workload's declared template)."""

    name: str
    ip: str
    namespace: str
    labels: dict[str, str]
    containers: list[dict[str, Any]]


def discovered_targets(service: dict[str, Any], pods: list[Pod]) -> list[dict[str, Any]]:
    """What the `endpoints` role discovers for a Service: per port, each selected pod's address (the port's
    targetPort resolved by name or number in the pod's containers) with its meta labels; file_sd's format."""
    metadata, selector = service["metadata"], service["spec"]["selector"]
    service_labels = {}
    for key, value in metadata.get("labels", {}).items():
        service_labels[f"__meta_kubernetes_service_label_{sanitized(key)}"] = value
        service_labels[f"__meta_kubernetes_service_labelpresent_{sanitized(key)}"] = "true"
    groups = []
    for port in service["spec"]["ports"]:
        target_port = port.get("targetPort", port["port"])
        for pod in pods:
            if pod.namespace != metadata["namespace"] or not selector.items() <= pod.labels.items():
                continue
            found = [(container, p) for container in pod.containers for p in container.get("ports", [])
                     if target_port in (p.get("name"), p["containerPort"])]
            for container, container_port in found:
                groups.append({"targets": [f"{pod.ip}:{int(container_port['containerPort'])}"], "labels": {
                    "__meta_kubernetes_namespace": metadata["namespace"],
                    "__meta_kubernetes_service_name": metadata["name"],
                    **service_labels,
                    "__meta_kubernetes_endpoints_name": metadata["name"],
                    "__meta_kubernetes_endpoint_port_name": port.get("name", ""),
                    "__meta_kubernetes_endpoint_port_protocol": port.get("protocol", "TCP"),
                    "__meta_kubernetes_endpoint_ready": "true",
                    "__meta_kubernetes_endpoint_address_target_kind": "Pod",
                    "__meta_kubernetes_endpoint_address_target_name": pod.name,
                    "__meta_kubernetes_pod_name": pod.name,
                    "__meta_kubernetes_pod_ip": pod.ip,
                    "__meta_kubernetes_pod_container_name": container["name"],
                    "__meta_kubernetes_pod_container_port_name": container_port.get("name", ""),
                    "__meta_kubernetes_pod_container_port_number": str(int(container_port["containerPort"])),
                    "__meta_kubernetes_pod_phase": "Running",
                    "__meta_kubernetes_pod_ready": "true",
                }})
    return groups
