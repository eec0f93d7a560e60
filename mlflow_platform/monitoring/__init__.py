"""Monitoring for the prometheus-operator stack: what to scrape, when to alert, and a Grafana dashboard."""

import json
from typing import overload

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.conversion import args_of
from mlflow_platform.inputs import MonitoringInputs
from mlflow_platform.kube.labels import standard_labels
from mlflow_platform.monitoring.alert_rules import alert_rule_groups
from mlflow_platform.monitoring.args import MonitoringArgs, ScrapeTarget
from mlflow_platform.monitoring.dashboard import dashboard_json
from mlflow_platform.outputs import applied, registered_outputs

__all__ = ['Monitoring', 'MonitoringArgs', 'ScrapeTarget']


class Monitoring(pulumi.ComponentResource):
    """What prometheus-operator and Grafana read: ServiceMonitors, a PrometheusRule with the alerts, a dashboard."""

    service_monitor_names: list[str]
    """The ServiceMonitors, one per scrape target."""
    prometheus_rule: pulumi.Output[str]
    """The PrometheusRule with the alerts."""
    dashboard: pulumi.Output[str]
    """The ConfigMap Grafana's sidecar loads the dashboard from."""

    @overload
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    @overload
    def __init__(self, name: str, args: MonitoringInputs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    # The annotation is MonitoringInputs, which the schema is inferred from; Python programs may pass either form.
    def __init__(self, name: str, args: MonitoringInputs, opts: pulumi.ResourceOptions | None = None) -> None:  # type: ignore[misc]
        config = args_of(MonitoringArgs, args)
        super().__init__("mlflow-platform:index:Monitoring", name, None, opts)
        self._declare(name, config)

    def _declare(self, name: str, args: MonitoringArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        labels = {**standard_labels("mlflow", name, "monitoring"), **args.release_labels}
        targets = [target for target in (args.server, args.database) if target]
        for target in targets:
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
        groups = applied(lambda namespace: alert_rule_groups(namespace, args.server.job,
                                                             args.database.job if args.database else None,
                                                             args.thresholds, args.runbook_url), args.namespace)
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
            data={"mlflow.json": applied(lambda namespace: json.dumps(dashboard_json(args, namespace), indent=1),
                                           args.namespace)},
            opts=child,
        )
        self.service_monitor_names = [target.job for target in targets]
        self.prometheus_rule = rule.metadata["name"]
        self.dashboard = dashboard.metadata.name
        self.register_outputs(registered_outputs(self))
