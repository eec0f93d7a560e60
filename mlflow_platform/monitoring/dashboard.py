"""The Grafana dashboard: servers answering, request rate, errors, latency by method, pod CPU, memory and restarts,
database connections.

Grafana picks the Prometheus and the namespace ($datasource, $namespace: one dashboard serves every install a
Grafana sees); the jobs are the ServiceMonitors' (their Services' names).
"""

from dataclasses import dataclass
from typing import Any

from mlflow_platform.monitoring.alert_rules import servers_up
from mlflow_platform.monitoring.args import MonitoringArgs

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
KUBELET = ("The kubelet's cAdvisor metrics ({metric}): Prometheus must scrape the kubelets (kube-prometheus-stack does; "
           "a Prometheus without them shows an empty panel).")
KUBE_STATE_METRICS = ("kube-state-metrics' {metric} (kube-prometheus-stack installs it; without it this panel and the "
                      "MlflowPodsRestarting alert stay empty).")


@dataclass(frozen=True)
class Panel:
    title: str
    targets: list[tuple[str, str]]
    """(PromQL, legend)."""
    unit: str
    description: str


def panels(args: MonitoringArgs) -> list[Panel]:
    """The panels, their queries written for Grafana's variables ($namespace)."""
    server = f'namespace="$namespace",job="{args.server.job}"'
    pods = 'namespace="$namespace",container="mlflow"'
    latency = "histogram_quantile({q}, sum by (le, method) (rate(mlflow_http_request_duration_seconds_bucket{{{s}}}[5m])))"
    cpu, memory, restarts = ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                             "kube_pod_container_status_restarts_total")
    found = [
        Panel("Server pods answering", [(servers_up(server), "answering")], "none",
              "Server pods whose MLflow answers: what MlflowServerDown reads (0 fires it)."),
        Panel("Requests per second by status", [(f"sum by (status) (rate(mlflow_http_request_total{{{server}}}[5m]))",
                                                 "{{status}}")], "reqps", "Every answer of the tracking server."),
        # 0 rather than no data while nothing failed (no 5xx series exists then).
        Panel("5xx error ratio", [(f'(sum(rate(mlflow_http_request_total{{{server},status=~"5.."}}[5m])) or vector(0)) / '
                                   f"sum(rate(mlflow_http_request_total{{{server}}}[5m]))", "5xx")], "percentunit",
              "The share MlflowHighErrorRatio reads. It includes MLflow's 500 for a file a client asks for that does "
              "not exist (GET get-artifact): MLflow labels requests by status only (docs/monitoring.md)."),
        # MLflow labels requests by method, not endpoint: latency is broken down by method.
        Panel("Latency p50 / p95 / p99 by method", [(latency.format(q=q, s=server), f"p{int(q * 100)} {{{{method}}}}")
                                                    for q in (0.5, 0.95, 0.99)], "s",
              "Per HTTP method: MLflow's metrics have no endpoint label."),
        Panel("Pod CPU (cores)", [(f"sum by (pod) (rate({cpu}{{{pods}}}[5m]))", "{{pod}}")], "none",
              KUBELET.format(metric=cpu)),
        Panel("Pod memory (working set)", [(f"sum by (pod) ({memory}{{{pods}}})", "{{pod}}")], "bytes",
              KUBELET.format(metric=memory)),
        Panel("Server container restarts (15 min)", [(f"sum by (pod) (increase({restarts}{{{pods}}}[15m]))", "{{pod}}")],
              "none", KUBE_STATE_METRICS.format(metric=restarts)),
    ]
    if args.database:
        database = f'namespace="$namespace",job="{args.database.job}",datname!~"template.*"'
        found.append(Panel("Database connections", [(f"sum by (datname) (pg_stat_database_numbackends{{{database}}})",
                                                     "{{datname}}")], "none",
                           "Sessions per database of the in-cluster PostgreSQL (postgres_exporter)."))
    return found


def dashboard_json(args: MonitoringArgs, namespace: str) -> dict[str, Any]:
    """`namespace` is the variable's default: the one this stack deploys to."""
    return {
        "title": "MLflow tracking server",
        "uid": f"mlflow-{namespace}",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            {"name": "namespace", "label": "Namespace", "type": "query", "datasource": DATASOURCE,
             "query": {"query": f'label_values(up{{job="{args.server.job}"}}, namespace)', "refId": "namespace"},
             "definition": f'label_values(up{{job="{args.server.job}"}}, namespace)',
             "current": {"text": namespace, "value": namespace}, "refresh": 2, "sort": 1, "hide": 0},
        ]},
        "panels": [
            {
                "id": index + 1,
                "title": panel.title,
                "description": panel.description,
                "type": "timeseries",
                "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [{"expr": expr, "legendFormat": legend, "refId": chr(65 + i), "datasource": DATASOURCE}
                            for i, (expr, legend) in enumerate(panel.targets)],
            }
            for index, panel in enumerate(panels(args))
        ],
    }
