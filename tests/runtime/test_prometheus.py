"""Monitoring against a real Prometheus (Debian's package): the declared ServiceMonitors turned into scrape jobs as
prometheus-operator generates them, the declared pods' targets as Kubernetes discovers them, the declared
PrometheusRule loaded, the declared containers running (the server, its metrics sidecar, postgres_exporter), real
MLflow traffic, and real failures: a locked table, the object store gone, the database stopped, the server killed.

Two layouts, as the stacks declare them: without the auth app (dev) Prometheus scrapes the server's own /metrics;
with it (prod) the server pods' metrics sidecar. Only time is changed in the test's copy (tests/runtime/prometheus.py):
1 s scrapes and evaluations, each alert's `for` read in seconds instead of minutes.

Not here: MlflowPodsRestarting and the three dashboard panels that read the kubelet's or kube-state-metrics' series
(KUBELET_OR_KUBE_STATE_METRICS): no kubelet runs here; promtool's unit test covers the alert
(tests/components/test_monitoring.py). postgres_exporter is Debian's build (0.11), in place of the image's (0.18): the
two series read here, pg_up and pg_stat_database_numbackends, are in both.
"""

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from mlflow.tracking import MlflowClient

from conftest import MONITORED
from harness import ProgramRun, run_program
from runtime.auth_calls import ADMIN, PROGRAMS, signed_in_by, tracking_token
from runtime.fixtures import private_postgres_cluster, skip_or_fail
from runtime.forward_proxy import ForwardProxy
from runtime.generated import POD_IP
from runtime.identity_provider import identity_provider
from runtime.platform import DEPLOYMENT, Platform, RunningServer, local_platform, projected_files, start_metrics_sidecar
from runtime.prometheus import Prometheus
from runtime.prometheus_operator import Pod, discovered_targets
from runtime.services import ManagedProcess, PrivatePostgres, free_port, wait_until_healthy

pytestmark = pytest.mark.runtime

RUNBOOK = MONITORED["monitoringRunbookUrl"]
POSTGRES_POD_IP = "10.244.0.18"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SERVICE = "kubernetes:core/v1:Service"
KUBELET_OR_KUBE_STATE_METRICS = ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                                 "kube_pod_container_status_restarts_total")
"""Series of the kubelet (cAdvisor) and kube-state-metrics: the dashboard panels that read them are only parsed here."""
# MLflow 3.x's answer for a file that does not exist (server/handlers.py get_artifact_handler -> _send_artifact: the
# store's not-found error is no MlflowException, so Flask answers 500). docs/monitoring.md, "5xx and a missing artifact".
MISSING_ARTIFACT_STATUS = 500
SEARCH = "/api/2.0/mlflow/experiments/search"


@dataclass
class Monitored:
    layout: str
    """server (Prometheus scrapes the server itself) or sidecar (the server pods' metrics sidecar)."""
    run: ProgramRun
    platform: Platform
    database: PrivatePostgres
    server: RunningServer
    prometheus: Prometheus
    headers: dict[str, str]
    """What the layout's clients send (a token with the auth app)."""
    run_id: str = ""
    """A run the traffic made, with an artifact report.txt."""

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.server.url}{path}", headers=self.headers, timeout=60, **kwargs)

    def rule_groups(self) -> list[dict[str, Any]]:
        (rule,) = [r.plain_inputs for r in self.run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")]
        groups: list[dict[str, Any]] = rule["spec"]["groups"]
        return groups

    def dashboard_queries(self) -> list[tuple[str, str]]:
        """(panel title, query) with the dashboard's variables as Grafana fills them in for this namespace."""
        (config_map,) = [c for c in self.run.of_type("kubernetes:core/v1:ConfigMap") if c.name.endswith("-dashboard")]
        dashboard = json.loads(config_map.plain_inputs["data"]["mlflow.json"])
        namespace = dashboard["templating"]["list"][1]["current"]["value"]
        return [(panel["title"], target["expr"].replace("$namespace", namespace))
                for panel in dashboard["panels"] for target in panel["targets"]]


def declared_pods(run: ProgramRun) -> list[Pod]:
    """The server's pod and, in-cluster, the database's, as the cluster would run them from the declared templates."""
    pods = []
    for type_token, name, ip in ((DEPLOYMENT, "mlflow", POD_IP), (STATEFULSET, "mlflow-postgres", POSTGRES_POD_IP)):
        for workload in run.of_type(type_token):
            if workload.k8s_name == name:
                template = workload.plain_inputs["spec"]["template"]
                pods.append(Pod(f"{name}-0", ip, workload.plain_inputs["metadata"]["namespace"],
                                template["metadata"]["labels"], template["spec"]["containers"]))
    return pods


def start_postgres_exporter(platform: Platform, database: PrivatePostgres) -> tuple[ManagedProcess, int]:
    """The database pod's `metrics` container: its declared environment and password file, Debian's build of
    postgres_exporter in place of the image's entrypoint, the pod's loopback PostgreSQL the private one."""
    binary = shutil.which("prometheus-postgres-exporter")
    if binary is None:
        skip_or_fail("prometheus-postgres-exporter is not installed (Debian package; .ci/run installs it)")
    run = platform.run
    pod = run.one(STATEFULSET, "mlflow-postgres").plain_inputs["spec"]["template"]["spec"]
    spec = next(c for c in pod["containers"] if c["name"] == "metrics")
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = {entry["name"]: entry["value"] for entry in spec["env"]}
    for mount in spec["volumeMounts"]:
        directory = platform.workdir / "exporter" / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        for file_name, content in projected_files(run, volumes[mount["name"]], platform.cluster.secrets).items():
            (directory / file_name).write_text(content)
        env = {key: value.replace(mount["mountPath"], str(directory)) for key, value in env.items()}
    declared_database = env["DATA_SOURCE_URI"].split("/", 1)[1].split("?")[0]
    env["DATA_SOURCE_URI"] = env["DATA_SOURCE_URI"].replace("127.0.0.1:5432", f"127.0.0.1:{database.port}").replace(
        f"/{declared_database}?", f"/{platform.database}?")
    port = free_port()
    process = ManagedProcess([binary, f"--web.listen-address=127.0.0.1:{port}"], {"PATH": os.environ["PATH"], **env},
                             platform.workdir / "postgres-exporter.log")
    wait_until_healthy(f"http://127.0.0.1:{port}/metrics", process, timeout=60)
    return process, port


@contextmanager
def monitored(layout: str, run: ProgramRun, workdir: Path, headers: dict[str, str]) -> Iterator[Monitored]:
    """The stack's monitored processes on a database of their own (the test stops it), scraped by Prometheus."""
    with ExitStack() as stack:
        database = stack.enter_context(private_postgres_cluster(password="postgres-admin"))
        platform = stack.enter_context(local_platform(run, database.server, workdir))
        # A test may have stopped the database: it must run for the platform's clean-up.
        stack.callback(database.ensure_running)
        migrated = platform.migrate()
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        server = platform.start_server()
        stack.callback(server.stop)
        routes = {f"{POD_IP}:{server.declared_port}": f"127.0.0.1:{server.port}"}
        pods = declared_pods(run)
        declared_ports = {(pod.ip, c["name"]): int(p["containerPort"]) for pod in pods for c in pod.containers
                          for p in c.get("ports", [])}
        if (POD_IP, "metrics") in declared_ports:
            sidecar, port = start_metrics_sidecar(platform, server)
            stack.callback(sidecar.stop)
            routes[f"{POD_IP}:{declared_ports[POD_IP, 'metrics']}"] = f"127.0.0.1:{port}"
        if (POSTGRES_POD_IP, "metrics") in declared_ports:
            exporter, port = start_postgres_exporter(platform, database)
            stack.callback(exporter.stop)
            routes[f"{POSTGRES_POD_IP}:{declared_ports[POSTGRES_POD_IP, 'metrics']}"] = f"127.0.0.1:{port}"
        proxy = ForwardProxy(routes)
        stack.callback(proxy.stop)
        monitors = [m.plain_inputs for m in run.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")]
        targets = [group for service in run.of_type(SERVICE) for group in discovered_targets(service.plain_inputs, pods)]
        (rule,) = [r.plain_inputs for r in run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")]
        prometheus = Prometheus(workdir / "prometheus", monitors, targets, rule["spec"]["groups"], proxy.url)
        stack.callback(prometheus.stop)
        # Its discovery hands targets over after up to 5 s (discovery/manager.go, updatert): traffic from then on
        # is what it sees change.
        prometheus.wait_for(lambda: prometheus.query("up"), 30, "scraping")
        state = Monitored(layout, run, platform, database, server, prometheus, headers)
        stack.callback(lambda: state.server.stop())  # the one a test restarted, if it did
        yield state



def drive_traffic(stack: Monitored, workdir: Path) -> str:
    """What a training job and a person do: an experiment, runs with params and a metric history, an artifact
    uploaded and read back, searches, and a client's mistake (a 4xx). Returns the last run's ID."""
    artifact = workdir / "report.txt"
    artifact.write_text("monitoring traffic\n")
    with tracking_token(stack.headers.get("Authorization", "").removeprefix("Bearer ") or None):
        client = MlflowClient(stack.server.url)
        experiment_id = client.create_experiment("monitored")
        for index in range(3):
            run_id = str(client.create_run(experiment_id).info.run_id)
            client.log_param(run_id, "index", str(index))
            for step in range(5):
                client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
            client.log_artifact(run_id, str(artifact))
            client.set_terminated(run_id)
        client.search_runs([experiment_id], "metrics.loss < 1", order_by=["metrics.loss ASC"])
        client.get_metric_history(run_id, "loss")
        client.download_artifacts(run_id, "report.txt", str(workdir))
    assert stack.call("GET", "/api/2.0/mlflow/experiments/get", params={"experiment_id": "999999"}).status_code == 404
    return run_id


@pytest.fixture(scope="module", params=["server", "sidecar"])
def layout(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    """`server`: dev's, Prometheus scrapes the server; `sidecar`: with the auth app (prod's), the metrics sidecar."""
    workdir = Path(tmp_path_factory.mktemp(f"prometheus-{request.param}"))
    with ExitStack() as stack:
        if request.param == "server":
            run, headers = run_program("dev", MONITORED), {}
        else:
            issuer = stack.enter_context(identity_provider())
            run = run_program("dev", {**MONITORED, **signed_in_by(issuer.issuer)})
            headers = {"Authorization": f"Bearer {issuer.token('admin', PROGRAMS, email=ADMIN)}"}
        monitored_stack = stack.enter_context(monitored(request.param, run, workdir, headers))
        monitored_stack.run_id = drive_traffic(monitored_stack, workdir)
        yield monitored_stack


def test_the_sidecar_layout_is_prods(prod: ProgramRun) -> None:
    """What the sidecar layout scrapes is what the prod stack declares: the same ServiceMonitor for the server."""
    with identity_provider() as issuer:
        sidecar_run = run_program("dev", {**MONITORED, **signed_in_by(issuer.issuer)})

    def server_monitor(run: ProgramRun) -> dict[str, Any]:
        (monitor,) = [m.plain_inputs for m in run.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
                      if m.plain_inputs["metadata"]["name"] == "mlflow"]
        return monitor

    assert server_monitor(sidecar_run) == server_monitor(prod)


def test_every_target_is_up_with_the_labels_the_operator_gives(layout: Monitored) -> None:
    prometheus = layout.prometheus

    def all_up() -> list[dict[str, Any]]:
        active = prometheus.targets()["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else []

    try:
        active = prometheus.wait_for(all_up, 30, "every target up")
    except AssertionError as failed:
        found = [(t["labels"], t["health"], t["lastError"]) for t in prometheus.targets()["activeTargets"]]
        raise AssertionError(f"{failed}\ntargets: {found}") from None
    scraped = {(t["labels"]["job"], t["labels"]["endpoint"], t["labels"]["container"], t["labels"]["pod"],
                t["labels"]["namespace"], t["labels"]["instance"]) for t in active}
    endpoint, container, port = {"server": ("http", "mlflow", 5000), "sidecar": ("metrics", "metrics", 9090)}[
        layout.layout]
    assert scraped == {
        ("mlflow", endpoint, container, "mlflow-0", "mlflow", f"{POD_IP}:{port}"),
        ("mlflow-postgres", "metrics", "metrics", "mlflow-postgres-0", "mlflow", f"{POSTGRES_POD_IP}:9187"),
    }


def test_every_rule_is_inactive_while_healthy(layout: Monitored) -> None:
    prometheus = layout.prometheus
    # Long enough for every rule's (scaled) `for` to have run out had anything been wrong.
    longest = max(int(r["for"].rstrip("m")) for g in layout.rule_groups() for r in g["rules"])
    time.sleep(longest + 3)
    states = prometheus.alert_states()
    assert states.keys() == {r["alert"] for g in layout.rule_groups() for r in g["rules"]}
    assert set(states.values()) == {"inactive"}, states


def test_every_dashboard_query_parses_and_returns_data(layout: Monitored) -> None:
    prometheus = layout.prometheus
    empty = []
    # People searching while the panels are read: rates need requests between two scrapes.
    with calling(layout, "POST", SEARCH, threads=2, json={"max_results": 1}):
        prometheus.wait_for(lambda: prometheus.query("sum(rate(mlflow_http_request_total[5m])) > 0"), 30, "rated")
        for title, expr in layout.dashboard_queries():
            result = prometheus.query(expr)  # fails on a query Prometheus cannot parse
            if any(series in expr for series in KUBELET_OR_KUBE_STATE_METRICS):
                assert result == [], (title, result)  # nothing here exports them
            elif not result:
                empty.append(title)
    assert not empty, f"panels without data: {empty}"
    # The namespace variable: what Grafana asks for label_values(up{job="mlflow"}, namespace).
    values = requests.get(f"{prometheus.url}/api/v1/label/namespace/values", params={"match[]": 'up{job="mlflow"}'},
                          timeout=10).json()["data"]
    assert values == ["mlflow"]


def test_a_missing_artifact_is_a_5xx_the_error_ratio_counts(layout: Monitored) -> None:
    """The documented choice (docs/monitoring.md): MLflow's 500 for a file that does not exist is kept, and counted."""
    prometheus = layout.prometheus
    query = 'sum(mlflow_http_request_total{namespace="mlflow",job="mlflow",status="500"}) or vector(0)'
    before = float(prometheus.query(query)[0]["value"][1])
    answer = layout.call("GET", "/get-artifact", params={"run_uuid": layout.run_id, "path": "no-such-file.txt"})
    assert answer.status_code == MISSING_ARTIFACT_STATUS, answer.text
    prometheus.wait_for(lambda: float(prometheus.query(query)[0]["value"][1]) == before + 1, 30, "counted")


@contextmanager
def calling(stack: Monitored, method: str, path: str, threads: int, **kwargs: Any) -> Iterator[list[int]]:
    """Clients calling `path` over and over in `threads` threads while the block runs; the statuses they got."""
    statuses: list[int] = []
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            try:
                statuses.append(stack.call(method, path, **kwargs).status_code)
            except requests.RequestException:
                statuses.append(0)

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield statuses
    finally:
        done.set()
        for worker in workers:
            worker.join(timeout=120)


def test_each_alert_fires_when_its_failure_is_caused(layout: Monitored) -> None:
    """In the order a bad day might bring them; each alert within its (scaled) `for` and a few scrapes, carrying
    its routing labels and its runbook's address."""
    prometheus = layout.prometheus
    rules = {r["alert"]: r for g in layout.rule_groups() for r in g["rules"]}

    def fires(alert: str) -> None:
        labels = prometheus.wait_for(lambda: prometheus.firing().get(alert, {}), int(rules[alert]["for"].rstrip("m")) + 30,
                                     f"{alert} firing")
        assert labels["namespace"] == "mlflow" and labels["severity"] == rules[alert]["labels"]["severity"], labels
        (annotated,) = [a for a in prometheus.alerts() if a["labels"]["alertname"] == alert]
        assert annotated["annotations"]["runbook_url"] == f"{RUNBOOK}#{alert.lower()}"

    # A table locked for 4 s (a long migration, a vacuum full): the API waits on it.
    owner = psycopg2.connect(layout.database.server.url_for(layout.platform.database))
    with owner, owner.cursor() as cursor:
        cursor.execute("LOCK TABLE experiments IN ACCESS EXCLUSIVE MODE")
        with calling(layout, "POST", SEARCH, threads=30, json={"max_results": 1}) as statuses:
            time.sleep(4)
            owner.rollback()
    owner.close()
    assert statuses and set(statuses) == {200}, statuses
    fires("MlflowHighLatencyP95")

    # The object store gone: reading an artifact fails with 5xx.
    layout.platform.s3.stop()
    with calling(layout, "GET", "/get-artifact", threads=8, params={"run_uuid": layout.run_id, "path": "report.txt"}
                 ) as statuses:
        fires("MlflowHighErrorRatio")
    assert 500 in statuses, statuses

    # The database stopped: MLflow answers 503, the exporter finds no PostgreSQL; the server itself still answers.
    layout.database.halt()
    with calling(layout, "POST", SEARCH, threads=4, json={"max_results": 1}) as statuses:
        fires("MlflowDatabaseErrors")
        if "MlflowPostgresUnreachable" in rules:
            fires("MlflowPostgresUnreachable")
    assert 503 in statuses, statuses
    assert "MlflowServerDown" not in prometheus.firing()

    # The server killed with its workers (an OOM kill); in the sidecar layout the sidecar lives on.
    layout.server.process.signal_group(signal.SIGKILL)
    fires("MlflowServerDown")
    if layout.layout == "sidecar":
        assert [s["value"][1] for s in prometheus.query('up{job="mlflow"}')] == ["1"], "the sidecar's target is up"

    # The database back and the container restarted, as the kubelet would (same port): the alert resolves.
    layout.database.start()
    layout.server = layout.platform.start_server("restarted", port=layout.server.port)
    prometheus.wait_for(lambda: "MlflowServerDown" not in prometheus.firing(), 30, "MlflowServerDown resolved")
