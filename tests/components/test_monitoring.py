"""Monitoring: scrape targets, alerts proven with Prometheus's own promtool, and a dashboard."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import DEPLOYMENT, MONITORED, PROD_SECRETS, SERVICE, STATEFULSET, container, env_of, pod_spec
from harness import ROOT, ProgramRun, run_program
from runtime.fixtures import skip_or_fail

CUSTOM = "kubernetes:monitoring.coreos.com/v1:"


def custom(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    return [r.plain_inputs for r in run.resources if r.type == f"{CUSTOM}{kind}"]


def rule_groups(run: ProgramRun) -> list[dict[str, Any]]:
    (rule,) = custom(run, "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def alerts(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for group in rule_groups(run) for r in group["rules"]}


@pytest.fixture(scope="module")
def in_cluster_monitored() -> ProgramRun:
    """Dev's in-cluster database with monitoring on: adds the PostgreSQL exporter and its alert."""
    return run_program("dev", MONITORED)


def test_off_in_dev_declares_nothing_of_it(dev: ProgramRun) -> None:
    assert not [t for t in dev.types() if t.startswith(CUSTOM) or t == "mlflow-platform:index:Monitoring"]
    assert [c["name"] for c in pod_spec(dev.one(STATEFULSET, "mlflow-postgres"))["containers"]] == ["postgresql"]


class TestServiceMonitor:
    def test_selects_the_mlflow_service_with_the_release_label(self, prod: ProgramRun) -> None:
        (monitor,) = custom(prod, "ServiceMonitor")
        assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor")
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        service_labels = prod.one(SERVICE, "mlflow").plain_inputs["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["mlflow"]}
        # With the auth app /metrics needs a token: Prometheus scrapes the server pods' metrics sidecar.
        assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
        ports = {p["name"]: p["port"] for p in prod.one(SERVICE, "mlflow").plain_inputs["spec"]["ports"]}
        assert ports == {"http": 5000, "metrics": 9090}
        sidecar = container(prod.one(DEPLOYMENT, "mlflow"), "metrics")
        assert sidecar["command"] == ["python", "/opt/mlflow-platform/mlflow_platform_metrics.py"]
        assert {"name": "metrics", "mountPath": "/var/run/mlflow/metrics", "readOnly": True} in sidecar["volumeMounts"]

    def test_in_cluster_postgres_is_scraped_through_an_exporter_sidecar(self, in_cluster_monitored: ProgramRun) -> None:
        monitors = {m["metadata"]["name"]: m for m in custom(in_cluster_monitored, "ServiceMonitor")}
        assert monitors.keys() == {"mlflow", "mlflow-postgres"}
        exporter = container(in_cluster_monitored.one(STATEFULSET, "mlflow-postgres"), "metrics")
        assert exporter["image"].startswith("quay.io/prometheuscommunity/postgres-exporter:v")
        assert env_of(exporter)["DATA_SOURCE_PASS_FILE"]["value"] == "/etc/postgresql-credentials/password"
        ports = in_cluster_monitored.one(SERVICE, "mlflow-postgres-headless").plain_inputs["spec"]["ports"]
        assert {"name": "metrics", "port": 9187, "targetPort": "metrics"} in ports


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a document's headings: lower-cased, punctuation but '-' and '_' dropped, spaces '-'."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", markdown, re.M)}


class TestAlertRules:
    def test_each_alert_has_severity_namespace_summary_description_and_runbook_url(self, prod: ProgramRun) -> None:
        found = alerts(prod)
        assert found.keys() == {"MlflowServerDown", "MlflowHighLatencyP95", "MlflowHighErrorRatio",
                                "MlflowDatabaseErrors", "MlflowPodsRestarting"}
        runbook = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["mlflow-platform:monitoringRunbookUrl"]
        anchors = github_anchors((ROOT / "docs" / "monitoring.md").read_text())
        for name, rule in found.items():
            assert rule["labels"] == {"severity": rule["labels"]["severity"], "namespace": "mlflow"}
            assert rule["labels"]["severity"] in {"warning", "critical"}
            annotations = rule["annotations"]
            assert annotations.keys() == {"summary", "description", "runbook_url"}
            assert annotations["summary"] and len(annotations["description"]) > 40
            # The runbook's section exists where the link points (docs/monitoring.md, "Runbook").
            assert annotations["runbook_url"] == f"{runbook}#{name.lower()}" and name.lower() in anchors

    def test_a_runbook_url_is_required_with_monitoring_and_checked_as_a_url(self) -> None:
        for value, problem in (("", "is required with monitoringEnabled"),
                               ("https://docs.example.com/monitoring.md#section", "is not an http(s) URL"),
                               ("git.example.com/docs/monitoring.md", "is not an http(s) URL")):
            with pytest.raises(Exception, match=f"monitoringRunbookUrl: .*{re.escape(problem)}"):
                run_program("dev", {"monitoringEnabled": True, "monitoringRunbookUrl": value})

    def test_thresholds_come_from_config(self) -> None:
        run = run_program("prod", {**PROD_SECRETS, "alertLatencyP95Seconds": "1.5", "alertErrorRatio": "0.05"})
        assert alerts(run)["MlflowHighLatencyP95"]["expr"].endswith("> 1.5")
        assert alerts(run)["MlflowHighErrorRatio"]["expr"].endswith("> 0.05")

    def test_the_in_cluster_database_gets_its_own_alert(self, in_cluster_monitored: ProgramRun) -> None:
        assert "MlflowPostgresUnreachable" in alerts(in_cluster_monitored)


def dashboard(run: ProgramRun) -> dict[str, Any]:
    (config_map,) = [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if "dashboard" in r.name]
    assert config_map.plain_inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    loaded: dict[str, Any] = json.loads(config_map.plain_inputs["data"]["mlflow.json"])
    return loaded


class TestDashboard:
    def test_panels(self, prod: ProgramRun, in_cluster_monitored: ProgramRun) -> None:
        titles = ["Server pods answering", "Requests per second by status", "5xx error ratio",
                  "Latency p50 / p95 / p99 by method", "Pod CPU (cores)", "Pod memory (working set)",
                  "Server container restarts (15 min)"]
        assert [panel["title"] for panel in dashboard(prod)["panels"]] == titles
        assert [panel["title"] for panel in dashboard(in_cluster_monitored)["panels"]] == [*titles, "Database connections"]
        latency = next(p for p in dashboard(prod)["panels"] if p["title"].startswith("Latency"))
        assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
            "histogram_quantile(0.5", "histogram_quantile(0.95", "histogram_quantile(0.99"]

    def test_grafana_picks_the_prometheus_and_the_namespace(self, in_cluster_monitored: ProgramRun) -> None:
        """One dashboard for every install a Grafana sees: no datasource, namespace, database or pod named in it."""
        board = dashboard(in_cluster_monitored)
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        assert variables["namespace"]["definition"] == 'label_values(up{job="mlflow"}, namespace)'
        assert variables["namespace"]["current"]["value"] == "mlflow"
        for panel in board["panels"]:
            for part in (panel, *panel["targets"]):
                assert part["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            for target in panel["targets"]:
                assert 'namespace="$namespace"' in target["expr"], target
                assert "datname=" not in target["expr"] and "pod=" not in target["expr"], target

    def test_panels_that_need_the_kubelet_or_kube_state_metrics_say_so(self, prod: ProgramRun) -> None:
        needs = {"container_cpu_usage_seconds_total": "kubelet", "container_memory_working_set_bytes": "kubelet",
                 "kube_pod_container_status_restarts_total": "kube-state-metrics"}
        for panel in dashboard(prod)["panels"]:
            used = {series for series in needs if any(series in t["expr"] for t in panel["targets"])}
            for series in used:
                assert needs[series] in panel["description"] and series in panel["description"], panel["title"]
            assert panel["description"]


# --- promtool: the rules as Prometheus itself parses and evaluates them ------------------------------

def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        skip_or_fail("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    return str(path)


def expected(rule: dict[str, Any], **labels: str) -> dict[str, Any]:
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": rule["annotations"]}


def run_promtool(tmp_path: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]]) -> None:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m",
                                                        "tests": tests}))
    check = subprocess.run([promtool(), "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run([promtool(), "test", "rules", str(tmp_path / "tests.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


SERVER = 'namespace="mlflow",job="mlflow"'


def requests(ok: str, failed: str, status: str = "500") -> list[dict[str, str]]:
    return [{"series": f'mlflow_http_request_total{{{SERVER},method="POST",status="200"}}', "values": ok},
            {"series": f'mlflow_http_request_total{{{SERVER},method="POST",status="{status}"}}', "values": failed}]


def latency(buckets: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": f'mlflow_http_request_duration_seconds_bucket{{{SERVER},le="{le}"}}', "values": values}
            for le, values in buckets.items()]


def sidecar_targets(*pods: tuple[str, str]) -> list[dict[str, str]]:
    """Per pod, (the sidecar target's `up`, what it reports of the server) as promtool series values."""
    series = []
    for index, (up, server_up) in enumerate(pods):
        target = f'{SERVER},instance="10.244.0.{index + 10}:9090",pod="mlflow-{index}"'
        series.append({"series": f"up{{{target}}}", "values": up})
        if server_up != "stale":
            series.append({"series": f"mlflow_platform_server_up{{{target}}}", "values": server_up})
    return series


def test_rules_pass_promtool_check_and_unit_tests(prod: ProgramRun, tmp_path: Path) -> None:
    rule = alerts(prod)
    cases: list[tuple[str, list[dict[str, str]], str, list[dict[str, Any]]]] = [
        # (alert, input series, evaluation time, expected alerts)
        ("MlflowServerDown", [{"series": f"up{{{SERVER}}}", "values": "0x10"}], "6m", [expected(rule["MlflowServerDown"])]),
        ("MlflowServerDown", [{"series": f"up{{{SERVER}}}", "values": "0x10"}], "4m", []),  # not yet 5 minutes
        ("MlflowServerDown", [{"series": f"up{{{SERVER}}}", "values": "1x10"}], "6m", []),
        ("MlflowServerDown", [{"series": 'up{namespace="other",job="x"}', "values": "1x10"}], "6m",
         [expected(rule["MlflowServerDown"], job="mlflow")]),  # no target at all
        # Prometheus scrapes the metrics sidecar: its `up` is 1 whatever the server does; the sidecar's report counts.
        ("MlflowServerDown", sidecar_targets(("1x10", "0x10")), "6m", [expected(rule["MlflowServerDown"])]),
        ("MlflowServerDown", sidecar_targets(("1x10", "1x10")), "6m", []),
        ("MlflowServerDown", sidecar_targets(("1x10", "0x10"), ("1x10", "1x10")), "6m", []),  # one pod answers
        # A sidecar that does not answer either: its series go stale, its `up` is 0.
        ("MlflowServerDown", sidecar_targets(("0x10", "stale")), "6m", [expected(rule["MlflowServerDown"])]),
        ("MlflowHighLatencyP95", latency({"0.5": "0x30", "1": "0x30", "2.5": "0+1x30", "5": "0+10x30", "+Inf": "0+10x30"}),
         "16m", [expected(rule["MlflowHighLatencyP95"])]),
        ("MlflowHighLatencyP95", latency({"0.5": "0+10x30", "1": "0+10x30", "2.5": "0+10x30", "5": "0+10x30",
                                          "+Inf": "0+10x30"}), "16m", []),
        ("MlflowHighErrorRatio", requests("0+80x20", "0+20x20"), "10m", [expected(rule["MlflowHighErrorRatio"])]),
        ("MlflowHighErrorRatio", requests("0+90x20", "0+10x20"), "10m", []),  # exactly 10 %: not above
        ("MlflowHighErrorRatio", requests("0+80x20", "0+20x20", status="404"), "10m", []),  # 4xx are the client's
        ("MlflowDatabaseErrors", requests("0+10x20", "0+5x20", status="503"), "5m", [expected(rule["MlflowDatabaseErrors"])]),
        ("MlflowDatabaseErrors", requests("0+10x20", "0+5x20", status="500"), "5m", []),
        ("MlflowPodsRestarting", [{"series": 'kube_pod_container_status_restarts_total{namespace="mlflow",container="mlflow",'
                                             'pod="mlflow-1"}', "values": "0 1 2 3 4 5"}], "5m",
         [expected(rule["MlflowPodsRestarting"], namespace="mlflow", container="mlflow", pod="mlflow-1")]),
        ("MlflowPodsRestarting", [{"series": 'kube_pod_container_status_restarts_total{namespace="mlflow",container="mlflow",'
                                             'pod="mlflow-1"}', "values": "0 0 0 1 1 1"}], "5m", []),
    ]
    tests = [{"interval": "1m", "input_series": series,
              "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": want}]}
             for name, series, at, want in cases]
    run_promtool(tmp_path, rule_groups(prod), tests)


def test_postgres_alert_with_promtool(in_cluster_monitored: ProgramRun, tmp_path: Path) -> None:
    rule = alerts(in_cluster_monitored)["MlflowPostgresUnreachable"]
    database = 'pg_up{namespace="mlflow",job="mlflow-postgres"}'
    tests = [{"interval": "1m", "input_series": [{"series": database, "values": values}],
              "alert_rule_test": [{"eval_time": "3m", "alertname": "MlflowPostgresUnreachable", "exp_alerts": want}]}
             for values, want in (("0x5", [expected(rule, namespace="mlflow", job="mlflow-postgres")]), ("1x5", []))]
    run_promtool(tmp_path, rule_groups(in_cluster_monitored), tests)


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """Guard the guard: a syntax error in an expression must fail the check."""
    broken = [{"name": "x", "rules": [{"alert": "Broken", "expr": "sum(rate(x[5m]) >"}]}]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": broken}))
    assert subprocess.run([promtool(), "check", "rules", str(tmp_path / "rules.yml")], capture_output=True).returncode != 0
