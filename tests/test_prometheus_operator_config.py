"""The model of prometheus-operator the real-Prometheus tests scrape with (tests/runtime/prometheus_operator.py)
reproduces the operator's own expected output for the ServiceMonitor of its test, and refuses what it does not
model."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.prometheus_operator import Pod, discovered_targets, scrape_jobs

GOLDEN = Path(__file__).parent / "data" / "prometheus-operator" / "TestServiceMonitorWithDefaultServiceDiscoveryRole.golden"
# promcfg_test.go, TestServiceMonitorWithServiceDiscoveryRole, "Default" (tests/data/prometheus-operator/SOURCE.md).
OPERATOR_TEST_MONITOR: dict[str, Any] = {
    "metadata": {"name": "test", "namespace": "default"},
    "spec": {"selector": {"matchLabels": {"foo": "bar"},
                          "matchExpressions": [{"key": "alpha", "operator": "In", "values": ["beta", "gamma"]}]},
             "endpoints": [{"port": "web", "interval": "30s"}]},
}


def test_the_job_is_the_operators_own_golden_output() -> None:
    (golden_job,) = yaml.safe_load(GOLDEN.read_text())["scrape_configs"]
    assert scrape_jobs(OPERATOR_TEST_MONITOR) == [golden_job]


def test_what_the_model_does_not_follow_is_refused() -> None:
    for spec in ({"jobLabel": "app"}, {"endpoints": [{"port": "web", "scheme": "https"}]}):
        with pytest.raises(AssertionError):
            scrape_jobs({**OPERATOR_TEST_MONITOR, "spec": {**OPERATOR_TEST_MONITOR["spec"], **spec}})


def test_discovery_gives_one_target_per_service_port_and_selected_pod() -> None:
    service = {"metadata": {"name": "mlflow", "namespace": "mlflow", "labels": {"app.kubernetes.io/name": "mlflow"}},
               "spec": {"selector": {"app": "mlflow"}, "ports": [{"name": "http", "port": 5000, "targetPort": "http"},
                                                                  {"name": "metrics", "port": 9090, "targetPort": 9090}]}}
    containers = [{"name": "mlflow", "ports": [{"name": "http", "containerPort": 5000}]},
                  {"name": "metrics", "ports": [{"name": "metrics", "containerPort": 9090}]}]
    pods = [Pod("mlflow-0", "10.244.0.17", "mlflow", {"app": "mlflow"}, containers),
            Pod("other-0", "10.244.0.18", "mlflow", {"app": "other"}, containers)]
    groups = discovered_targets(service, pods)
    assert [(g["targets"], g["labels"]["__meta_kubernetes_endpoint_port_name"],
             g["labels"]["__meta_kubernetes_pod_container_name"]) for g in groups] == [
        (["10.244.0.17:5000"], "http", "mlflow"), (["10.244.0.17:9090"], "metrics", "metrics")]
    assert groups[0]["labels"]["__meta_kubernetes_service_label_app_kubernetes_io_name"] == "mlflow"
