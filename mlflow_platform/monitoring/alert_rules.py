"""Prometheus alert rules for MLflow, as plain data: the PrometheusRule carries them and promtool tests them.

MLflow's exporter (--expose-prometheus) labels requests by method, status and mlflow_version only,
so the alerts work on the whole server, not per endpoint.
"""

from dataclasses import dataclass
from typing import Any

SERVER_UP_METRIC = "mlflow_platform_server_up"
"""What the metrics sidecar reports of the server in its pod (mlflow_platform_metrics.py)."""


@dataclass(frozen=True)
class AlertThresholds:
    """When the alerts fire."""

    latency_p95_seconds: float = 2.0
    """MlflowHighLatencyP95 fires above this p95 request latency."""
    error_ratio: float = 0.10
    """MlflowHighErrorRatio fires above this share of 5xx answers (0.1 is 10 %)."""
    restarts_per_15m: int = 2
    """MlflowPodsRestarting fires above this many restarts in 15 minutes."""


def servers_up(server: str) -> str:
    """How many server pods answer, in either layout. Per target: what the metrics sidecar saw of /health where
    Prometheus scrapes the sidecar (whose own `up` says nothing of the server), else `up`: the server's own where
    Prometheus scrapes it, 0 for a sidecar that does not answer. (`or` matches targets by their labels, the metric
    name aside.) Empty when the job has no target at all."""
    return f"sum({SERVER_UP_METRIC}{{{server}}} or up{{{server}}})"


def alert_rule_groups(namespace: str, server_job: str, database_job: str | None, thresholds: AlertThresholds,
                      runbook_url: str) -> list[dict[str, Any]]:
    """`database_job` is the in-cluster PostgreSQL's metrics job, or None (RDS, external); `runbook_url` is
    docs/monitoring.md where the team reads it, each alert's section its anchor."""
    server = f'namespace="{namespace}",job="{server_job}"'
    requests = f"sum(rate(mlflow_http_request_total{{{server}}}[5m]))"
    rules: list[dict[str, Any]] = [
        _alert(
            "MlflowServerDown",
            f"{servers_up(server)} == 0 or absent(up{{{server}}})",
            "5m", "critical",
            "No MLflow server has answered for 5 minutes",
            "Check `kubectl -n {ns} get pods,events`: image pull, OOMKilled (raise serverMemoryLimit), the migration "
            "Job failing, or the database unreachable (readiness calls the API, which needs the database).",
        ),
        _alert(
            "MlflowHighLatencyP95",
            f"histogram_quantile(0.95, sum by (le) (rate(mlflow_http_request_duration_seconds_bucket{{{server}}}[5m])))"
            f" > {thresholds.latency_p95_seconds:g}",
            "10m", "warning",
            f"MLflow p95 request latency above {thresholds.latency_p95_seconds:g}s for 10 minutes",
            "Look at CPU throttling and the database: scale replicas (serverMaxReplicas), add workers if CPU allows, "
            "check slow queries (search_runs on large experiments) and the database instance size.",
        ),
        _alert(
            "MlflowHighErrorRatio",
            f'sum(rate(mlflow_http_request_total{{{server},status=~"5.."}}[5m])) / {requests} > {thresholds.error_ratio:g}',
            "5m", "critical",
            f"More than {thresholds.error_ratio:.0%} of MLflow requests fail with 5xx",
            "Read the server logs (`kubectl -n {ns} logs deploy/mlflow`); 503s mean the database is unreachable, "
            "500s on artifact calls mean the object store refuses (credentials, bucket policy, KMS).",
        ),
        _alert(
            "MlflowDatabaseErrors",
            f'sum(rate(mlflow_http_request_total{{{server},status="503"}}[5m])) > 0',
            "2m", "critical",
            "MLflow answers 503: it cannot reach its database",
            "MLflow reconnects by itself once PostgreSQL is back. Check the database: in-cluster `kubectl -n {ns} get "
            "pods -l app.kubernetes.io/name=postgresql`; on RDS the instance status and CloudWatch DatabaseConnections.",
        ),
        _alert(
            "MlflowPodsRestarting",
            f'increase(kube_pod_container_status_restarts_total{{namespace="{namespace}",container="mlflow"}}[15m])'
            f" > {thresholds.restarts_per_15m}",
            "0m", "warning",
            "An MLflow server container restarted repeatedly in 15 minutes",
            "`kubectl -n {ns} describe pod`: OOMKilled means the memory limit is below the workers' peak; failed "
            "liveness probes mean the process hangs.",
        ),
    ]
    if database_job:
        database = f'namespace="{namespace}",job="{database_job}"'
        rules.append(_alert(
            "MlflowPostgresUnreachable",
            f"pg_up{{{database}}} == 0 or absent(pg_up{{{database}}})",
            "2m", "critical",
            "The in-cluster PostgreSQL does not answer its exporter",
            "`kubectl -n {ns} logs statefulset/mlflow-postgres -c postgresql`; check the volume (full disk) and events.",
        ))
    for rule in rules:
        # The namespace to route on, also where the expression aggregated it away or found nothing (absent).
        rule["labels"]["namespace"] = namespace
        rule["annotations"]["description"] = rule["annotations"]["description"].replace("{ns}", namespace)
        rule["annotations"]["runbook_url"] = f"{runbook_url}#{rule['alert'].lower()}"
    return [{"name": "mlflow.rules", "rules": rules}]


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }
