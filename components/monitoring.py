"""Monitoring for the prometheus-operator stack: what to scrape, when to alert, and a Grafana dashboard."""

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.alert_rules import AlertThresholds, alert_rule_groups
from components.labels import standard_labels


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    """The Service name (prometheus-operator's job label)."""
    selector: dict[str, str]
    port: str


@dataclass(frozen=True)
class MonitoringArgs:
    namespace: str
    server: ScrapeTarget
    database: ScrapeTarget | None = None
    """The in-cluster PostgreSQL exporter; None on RDS and external databases."""
    release_labels: dict[str, str] = field(default_factory=lambda: {"release": "kube-prometheus-stack"})
    """Labels the Prometheus release selects ServiceMonitors and PrometheusRules by."""
    dashboard_labels: dict[str, str] = field(default_factory=lambda: {"grafana_dashboard": "1"})
    """Labels Grafana's dashboard sidecar watches ConfigMaps for."""
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlflow-platform:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**standard_labels("mlflow", name, "monitoring"), **args.release_labels}
        for target in filter(None, (args.server, args.database)):
            k8s.apiextensions.CustomResource(
                f"{name}-{target.job}",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata={"name": target.job, "namespace": args.namespace, "labels": labels},
                spec={
                    "selector": {"matchLabels": target.selector},
                    "namespaceSelector": {"matchNames": [args.namespace]},
                    "endpoints": [{"port": target.port, "path": "/metrics", "interval": "30s"}],
                },
                opts=child,
            )
        groups = alert_rule_groups(args.namespace, args.server.job, args.database.job if args.database else None,
                                   args.thresholds)
        rule = k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": f"{name}-alerts", "namespace": args.namespace, "labels": labels},
            spec={"groups": groups},
            opts=child,
        )
        dashboard = k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata={"name": f"{name}-dashboard", "namespace": args.namespace,
                      "labels": {**standard_labels("mlflow", name, "monitoring"), **args.dashboard_labels}},
            data={"mlflow.json": json.dumps(dashboard_json(args), indent=1)},
            opts=child,
        )
        self.register_outputs({"prometheusRule": rule.metadata["name"], "dashboard": dashboard.metadata.name})


def dashboard_json(args: MonitoringArgs) -> dict[str, Any]:
    server = f'namespace="{args.namespace}",job="{args.server.job}"'
    pods = f'namespace="{args.namespace}",container="mlflow"'
    latency = "histogram_quantile({q}, sum by (le, method) (rate(mlflow_http_request_duration_seconds_bucket{{{s}}}[5m])))"
    panels: list[tuple[str, list[tuple[str, str]], str]] = [
        ("Requests per second by status", [(f"sum by (status) (rate(mlflow_http_request_total{{{server}}}[5m]))",
                                            "{{status}}")], "reqps"),
        ("5xx error ratio", [(f'sum(rate(mlflow_http_request_total{{{server},status=~"5.."}}[5m])) / '
                              f"sum(rate(mlflow_http_request_total{{{server}}}[5m]))", "5xx")], "percentunit"),
        # MLflow labels requests by method, not endpoint: latency is broken down by method.
        ("Latency p50 / p95 / p99 by method", [(latency.format(q=q, s=server), f"p{int(q * 100)} {{{{method}}}}")
                                                for q in (0.5, 0.95, 0.99)], "s"),
        ("Pod CPU (cores)", [(f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[5m]))", "{{pod}}")],
         "none"),
        ("Pod memory (working set)", [(f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})", "{{pod}}")],
         "bytes"),
    ]
    if args.database:
        panels.append(("Database connections", [(
            f'sum(pg_stat_database_numbackends{{namespace="{args.namespace}",job="{args.database.job}",datname="mlflow"}})',
            "connections")], "none"))
    return {
        "title": "MLflow tracking server",
        "uid": f"mlflow-{args.namespace}",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "panels": [
            {
                "id": index + 1,
                "title": title,
                "type": "timeseries",
                "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
                            for i, (expr, legend) in enumerate(targets)],
            }
            for index, (title, targets, unit) in enumerate(panels)
        ],
    }
