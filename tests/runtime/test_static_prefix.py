"""serverStaticPrefix, run as declared: MLflow 3.17.2 under /mlflow, with every client sending what it really sends
(the kubelet's probes, Prometheus by pod IP, the MLflow client on the tracking URI, a browser through the Ingress)."""

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import requests

from harness import ProgramRun, run_program
from runtime.clients import PROMETHEUS_HEADERS, kubelet_probe, seed_run
from runtime.generated import POD_IP
from runtime.platform import Platform, RunningServer, migrated_server
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime
PREFIX = "/mlflow"


@pytest.fixture(scope="module")
def prefixed() -> ProgramRun:
    return run_program("dev", {"serverStaticPrefix": PREFIX})


@pytest.fixture(scope="module")
def served(prefixed: ProgramRun, postgres_server: PostgresServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, RunningServer]]:
    with migrated_server(prefixed, postgres_server, tmp_path_factory.mktemp("prefix"), "prefixed") as running:
        yield running


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_the_kubelets_probes_pass_on_the_prefixed_paths(served: tuple[Platform, RunningServer], probe: str) -> None:
    _, server = served
    assert server.declared.probes[probe]["httpGet"]["path"].startswith(f"{PREFIX}/")
    assert kubelet_probe(server, probe).status_code == 200


def test_the_old_paths_are_gone(served: tuple[Platform, RunningServer]) -> None:
    """Guard the guard: without the prefix the same probes would fail, so the test above proves the prefix."""
    _, server = served
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 404


def test_prometheus_still_scrapes_metrics_at_the_root(served: tuple[Platform, RunningServer]) -> None:
    """MLflow mounts /metrics at the root, prefix or not (measured): the ServiceMonitor keeps /metrics."""
    _, server = served
    requests.get(f"{server.url}{PREFIX}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
    response = requests.get(f"{server.url}/metrics", timeout=10,
                            headers={"Host": f"{POD_IP}:{server.declared_port}", **PROMETHEUS_HEADERS})
    assert response.status_code == 200 and "mlflow_http_request_total" in response.text


def test_the_mlflow_client_on_the_tracking_uri_logs_a_run_and_an_artifact(
        served: tuple[Platform, RunningServer], prefixed: ProgramRun, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    platform, server = served
    # The output other stacks read ends with the prefix; here it is the local address with the same path.
    assert prefixed.stack_outputs["trackingUri"].endswith(f":5000{PREFIX}")
    tracking_uri = f"{server.url}{PREFIX}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        seed_run(platform, "under-a-prefix", tmp_path)
    finally:
        mlflow.set_tracking_uri(None)


def test_a_browser_through_the_ingress_reads_the_ui_and_writes(served: tuple[Platform, RunningServer],
                                                             prefixed: ProgramRun) -> None:
    _, server = served
    url = prefixed.stack_outputs["trackingUrl"]
    assert url.endswith(PREFIX)
    host = url.removeprefix("http://").removesuffix(PREFIX)
    headers = {"Host": host, "Origin": f"http://{host}", "User-Agent": "Mozilla/5.0"}
    page = requests.get(f"{server.url}{PREFIX}/", headers=headers, timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    created = requests.post(f"{server.url}{PREFIX}/ajax-api/2.0/mlflow/experiments/create",
                            json={"name": "from-the-ui-under-a-prefix"}, headers=headers, timeout=10)
    assert created.status_code == 200, created.text
