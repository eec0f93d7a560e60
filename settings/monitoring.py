"""The monitoring area: whether to declare the prometheus-operator objects, and the alert thresholds."""

from dataclasses import dataclass

from mlflow_platform.monitoring.alert_rules import AlertThresholds
from settings.checks import label_problem, positive_number_problem, ratio_problem
from settings.reader import ConfigReader


@dataclass(frozen=True)
class MonitoringSettings:
    release_labels: dict[str, str]
    thresholds: AlertThresholds


def read_monitoring(read: ConfigReader) -> MonitoringSettings | None:
    """None when monitoring is off, or when a key of this area is wrong (the problems are recorded)."""
    mark = len(read.problems)
    enabled = read.boolean("monitoringEnabled")
    release = read.string("monitoringReleaseLabel", check=label_problem)
    latency = read.string("alertLatencyP95Seconds", check=positive_number_problem)
    ratio = read.string("alertErrorRatio", check=ratio_problem)
    if not enabled or read.problems_since(mark):
        return None
    key, _, value = release.partition("=")
    return MonitoringSettings(release_labels={key: value},
                              thresholds=AlertThresholds(latency_p95_seconds=float(latency), error_ratio=float(ratio)))
