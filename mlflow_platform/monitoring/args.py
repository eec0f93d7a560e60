"""What Monitoring takes: the scrape targets, the labels the operator selects by, and alert thresholds."""

from dataclasses import dataclass, field

import pulumi

from mlflow_platform.monitoring.alert_rules import AlertThresholds
from mlflow_platform.validation import dns_label_problem, input_problem, page_url_problem, refuse


@dataclass(frozen=True)
class ScrapeTarget:
    """A Service prometheus-operator scrapes."""

    job: str
    """The Service name (prometheus-operator's job label)."""
    selector: dict[str, str]
    """Labels of the Service to scrape."""
    port: str
    """The Service port's name."""


@dataclass(frozen=True)
class MonitoringArgs:
    """What Monitoring takes.

    The namespace accepts another resource's output (checked when it resolves); the scrape targets' selectors and
    ports must be known at preview, like the selectors they match.
    """

    namespace: pulumi.Input[str]
    """Where the server runs: the ServiceMonitors, the PrometheusRule and the dashboard go there too."""
    server: ScrapeTarget
    """The MLflow server's metrics (MlflowServer: its selector and metrics_port_name)."""
    runbook_url: str
    """docs/monitoring.md where your team reads it (your copy of this repository's, at the release you run): each
    alert's runbook_url is this page with the alert's section as its #fragment."""
    database: ScrapeTarget | None = None
    """The in-cluster PostgreSQL exporter; None on RDS and external databases."""
    release_labels: dict[str, str] = field(default_factory=lambda: {"release": "kube-prometheus-stack"})
    """Labels the Prometheus release selects ServiceMonitors and PrometheusRules by."""
    dashboard_labels: dict[str, str] = field(default_factory=lambda: {"grafana_dashboard": "1"})
    """Labels Grafana's dashboard sidecar watches ConfigMaps for."""
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    """When the alerts fire."""

    def __post_init__(self) -> None:
        refuse("MonitoringArgs", input_problem("MonitoringArgs", self, "namespace", dns_label_problem),
               input_problem("MonitoringArgs", self, "runbook_url", page_url_problem))
