"""What Monitoring takes: the scrape targets, the labels the operator selects by, and alert thresholds."""

from dataclasses import dataclass, field

from mlflow_platform.monitoring.alert_rules import AlertThresholds


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
