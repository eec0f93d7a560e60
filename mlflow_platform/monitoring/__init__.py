"""Monitoring for the prometheus-operator stack: what to scrape, when to alert, and a Grafana dashboard."""

import json

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.kube.labels import standard_labels
from mlflow_platform.monitoring.alert_rules import alert_rule_groups
from mlflow_platform.monitoring.args import MonitoringArgs, ScrapeTarget
from mlflow_platform.monitoring.dashboard import dashboard_json

__all__ = ['Monitoring', 'MonitoringArgs', 'ScrapeTarget']


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
