"""The monitoring area: whether to declare the prometheus-operator objects, and the alert thresholds."""

from dataclasses import dataclass

from mlflow_platform.monitoring.alert_rules import AlertThresholds
from settings.reader import ConfigReader


@dataclass(frozen=True)
class MonitoringSettings:
    release_labels: dict[str, str]
    thresholds: AlertThresholds
    runbook_url: str


def read_monitoring(read: ConfigReader) -> MonitoringSettings | None:
    """None when monitoring is off, or when a key of this area is wrong (the problems are recorded)."""
    mark = len(read.problems)
    enabled = read.boolean("monitoringEnabled")
    release = read.string("monitoringReleaseLabel")
    latency = read.string("alertLatencyP95Seconds")
    ratio = read.string("alertErrorRatio")
    runbook_url = read.optional("monitoringRunbookUrl")
    if enabled and runbook_url is None:
        read.fail("monitoringRunbookUrl", "is required with monitoringEnabled: the URL of docs/monitoring.md where your "
                  "team reads it (your copy of this repository), e.g. https://github.com/acme/mlflow-platform/blob/"
                  "v0.2.0/docs/monitoring.md; each alert's runbook_url links its section there")
    if not enabled or runbook_url is None or read.problems_since(mark):
        return None
    key, _, value = release.partition("=")
    return MonitoringSettings(release_labels={key: value},
                              thresholds=AlertThresholds(latency_p95_seconds=float(latency), error_ratio=float(ratio)),
                              runbook_url=runbook_url)
