"""The Grafana dashboard: request rate, errors, latency by method, pod CPU and memory, database connections."""

from typing import Any

from mlflow_platform.monitoring.args import MonitoringArgs


def dashboard_json(args: MonitoringArgs, namespace: str) -> dict[str, Any]:
    server = f'namespace="{namespace}",job="{args.server.job}"'
    pods = f'namespace="{namespace}",container="mlflow"'
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
            f'sum(pg_stat_database_numbackends{{namespace="{namespace}",job="{args.database.job}",datname="mlflow"}})',
            "connections")], "none"))
    return {
        "title": "MLflow tracking server",
        "uid": f"mlflow-{namespace}",
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
