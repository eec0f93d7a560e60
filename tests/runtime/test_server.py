"""Runtime acceptance: the server exactly as the dev stack declares it, against real PostgreSQL and S3.

One server per module (see tests/runtime/fixtures.py); the scenario is the original workstream's
acceptance criteria plus the model registry, large artifacts, the host check and metrics.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests
from botocore.exceptions import ClientError
from mlflow.tracking import MlflowClient

from harness import ROOT, ProgramRun, run_program
from runtime.clients import (
    PROMETHEUS_HEADERS,
    declared_budget,
    kubelet_probe,
    peak_connections,
    registry_alias_round_trip,
    seed_run,
)
from runtime.generated import POD_IP
from runtime.platform import Platform, RunningServer, migrated_server
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime


@pytest.fixture(autouse=True)
def tracking_uri(server: RunningServer) -> Iterator[None]:
    mlflow.set_tracking_uri(server.url)
    yield
    mlflow.set_tracking_uri("")


def bucket_keys(platform: Platform, prefix: str) -> list[str]:
    listing = platform.s3.client("s3").list_objects_v2(Bucket=platform.bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class TestMigration:
    def test_succeeds_on_an_empty_database_and_again_as_a_no_op(
        self, migrations: list[subprocess.CompletedProcess[str]], platform: Platform
    ) -> None:
        first, second = migrations
        assert first.returncode == 0, first.stderr[-2000:]
        assert second.returncode == 0, second.stderr[-2000:]
        versions = platform.postgres.query(platform.database, "SELECT version_num FROM alembic_version")
        assert len(versions) == 1

    def test_the_server_starts_on_the_migrated_schema(self, server: RunningServer) -> None:
        assert server.process.alive()


class TestServing:
    def test_health_answers_200(self, server: RunningServer) -> None:
        assert requests.get(f"{server.url}/health", timeout=10).status_code == 200

    def test_ui_root_returns_the_html_page(self, server: RunningServer) -> None:
        response = requests.get(f"{server.url}/", timeout=10)
        assert response.status_code == 200
        assert "text/html" in response.headers["content-type"]
        assert "<html" in response.text.lower()

    def test_every_declared_probe_passes_as_the_kubelet_sends_it(self, server: RunningServer) -> None:
        for name, probe in server.declared.probes.items():
            get = probe["httpGet"]
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
            response = requests.get(f"{server.url}{get['path']}", headers=headers, timeout=probe.get("timeoutSeconds", 1))
            assert response.status_code == 200, (name, response.status_code, response.text[:200])

    def test_server_runs_the_declared_worker_count_without_the_job_runner(self, server: RunningServer) -> None:
        workers = int(server.argv[server.argv.index("--workers") + 1])
        children = subprocess.run(["pgrep", "-g", str(server.process.pid)], capture_output=True, text=True).stdout.split()
        # The wrapper and uvicorn, which runs one worker in its own process and supervises more than one
        # (+ multiprocessing helpers); the job runner would add 7 Huey consumers.
        expected = 2 if workers == 1 else workers + 2
        assert expected <= len(children) <= expected + 2, children
        assert server.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


class TestTracking:
    def test_experiment_run_param_metric_and_artifact_in_the_bucket(self, platform: Platform, tmp_path: Path) -> None:
        experiment_id, run_id = seed_run(platform, "test-experiment", tmp_path)
        # Only the artifact under the run's prefix, checked in S3 directly with the bucket owner's keys.
        run_prefix = f"{platform.prefix}{experiment_id}/{run_id}/"
        assert bucket_keys(platform, run_prefix) == [f"{run_prefix}artifacts/result.txt"]

    def test_model_registry_alias_load_and_predict(self) -> None:
        registry_alias_round_trip("doubler")

    def test_large_artifact_goes_multipart_and_downloads_byte_identical(
        self, platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The server advertises multipart on /server-info (its S3 store supports it); the client only
        # lowers MLflow's 500 MB threshold so a 100 MB file takes that path here.
        monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(64 * 1024**2))
        monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(16 * 1024**2))
        large = tmp_path / "large.bin"
        with large.open("wb") as handle:
            for _ in range(100):
                handle.write(hashlib.sha512(handle.tell().to_bytes(8, "big")).digest() * 16384)
        assert large.stat().st_size == 100 * 1024**2
        experiment_id = mlflow.set_experiment("large").experiment_id
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(large))
        key = f"{platform.prefix}{experiment_id}/{run.info.run_id}/artifacts/large.bin"
        head = platform.s3.client("s3").head_object(Bucket=platform.bucket, Key=key)
        assert head["ContentLength"] == large.stat().st_size
        assert head["ETag"].strip('"').endswith("-7"), "expected a 7-part multipart upload"
        downloaded = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="large.bin",
                                                              dst_path=str(tmp_path / "down")))
        assert sha256(downloaded) == sha256(large)


    def test_clients_outside_the_cluster_can_keep_every_byte_on_the_proxy(
        self, server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """What the README tells laptop users behind port-forward, who cannot reach presigned S3 URLs."""
        monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")
        monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "false")
        payload = tmp_path / "via-proxy.bin"
        payload.write_bytes(hashlib.sha512(b"proxy").digest() * 131072)  # 8 MiB
        mlflow.set_experiment("proxied")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(payload))
        downloaded = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="via-proxy.bin",
                                                              dst_path=str(tmp_path / "down")))
        assert sha256(downloaded) == sha256(payload)
        log = server.process.log_path.read_text()
        path = f"/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts/via-proxy.bin"
        assert f'"PUT {path} HTTP/1.1" 200' in log
        assert f'"GET {path} HTTP/1.1" 200' in log


class TestEveryClientOfTheCluster:
    """Each client a cluster sends reaches the server, with the Host header that client really sends.

    MLflow's host check (mlflow/server/security_utils.py, is_allowed_host_header) matches the Host
    header against --allowed-hosts with fnmatch on every path but /health and /version, /metrics
    included. A miss is a 403 that only these requests show.
    """

    API = "/api/2.0/mlflow/experiments/search?max_results=1"
    PROMETHEUS_HEADERS = PROMETHEUS_HEADERS

    @staticmethod
    def port(server: RunningServer) -> int:
        return int(server.declared_port)

    def test_prometheus_scrapes_the_pod_by_its_ip(self, server: RunningServer) -> None:
        """A ServiceMonitor's targets are pod IPs: `Host: 10.244.0.17:5000`."""
        requests.get(f"{server.url}{self.API}", timeout=10)
        host = f"{POD_IP}:{self.port(server)}"
        response = requests.get(f"{server.url}/metrics", headers={"Host": host, **self.PROMETHEUS_HEADERS}, timeout=10)
        assert response.status_code == 200, response.text
        assert "mlflow_http_request_total" in response.text

    @pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
    def test_kubelet_probes_pass_as_the_kubelet_sends_them(self, server: RunningServer, probe: str) -> None:
        assert kubelet_probe(server, probe).status_code == 200

    @pytest.mark.parametrize("name", ["mlflow", "mlflow.mlflow", "mlflow.mlflow.svc", "mlflow.mlflow.svc.cluster.local"])
    def test_in_cluster_jobs_reach_it_by_every_service_name(self, server: RunningServer, name: str) -> None:
        host = f"{name}:{self.port(server)}"
        created = requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": f"by-{name}"},
                                headers={"Host": host, "User-Agent": f"mlflow-python-client/{mlflow.__version__}"},
                                timeout=10)
        assert created.status_code == 200, created.text
        assert requests.get(f"{server.url}{self.API}", headers={"Host": host}, timeout=10).status_code == 200

    def test_clients_of_the_cluster_ip_are_served(self, server: RunningServer, dev: ProgramRun) -> None:
        """`$MLFLOW_SERVICE_HOST` clients dial the ClusterIP the API server assigned the Service."""
        cluster_ip = dev.one("kubernetes:core/v1:Service", "mlflow").plain_outputs["spec"]["clusterIP"]
        response = requests.get(f"{server.url}{self.API}", headers={"Host": f"{cluster_ip}:5000"}, timeout=10)
        assert response.status_code == 200

    def test_browsers_through_the_ingress_can_read_and_write(self, server: RunningServer, dev: ProgramRun) -> None:
        """ingress-nginx passes the browser's Host on; the UI's writes carry its Origin (CORS check)."""
        host = dev.stack_outputs["trackingUrl"].removeprefix("http://")
        headers = {"Host": host, "Origin": f"http://{host}", "User-Agent": "Mozilla/5.0"}
        assert requests.get(f"{server.url}{self.API}", headers=headers, timeout=10).status_code == 200
        created = requests.post(f"{server.url}/ajax-api/2.0/mlflow/experiments/create", json={"name": "from-the-ui"},
                                headers=headers, timeout=10)
        assert created.status_code == 200, created.text

    @pytest.mark.parametrize("host", ["evil.example.com", "10.244.0.99:5000", "mlflow.localtest.me.evil.example.com"])
    def test_other_hosts_still_get_403(self, server: RunningServer, host: str) -> None:
        """DNS rebinding protection stays for every other name, and for other pods' addresses."""
        for path in (self.API, "/metrics"):
            assert requests.get(f"{server.url}{path}", headers={"Host": host}, timeout=10).status_code == 403


class TestArtifactCredentials:
    def test_mlflow_user_reaches_its_prefix_and_nothing_else(self, platform: Platform) -> None:
        s3 = platform.s3.client("s3", platform.mlflow_keys)
        with platform.s3.enforcing_iam():
            allowed = f"{platform.prefix}probe/allowed.txt"
            s3.put_object(Bucket=platform.bucket, Key=allowed, Body=b"ok")
            assert s3.get_object(Bucket=platform.bucket, Key=allowed)["Body"].read() == b"ok"
            forbidden: list[tuple[str, dict[str, Any]]] = [
                ("put_object", {"Bucket": platform.bucket, "Key": "backups/outside-the-prefix.txt", "Body": b"no"}),
                ("create_bucket", {"Bucket": "another-bucket"}),
                ("put_bucket_policy", {"Bucket": platform.bucket, "Policy": "{}"}),
                ("put_bucket_versioning", {"Bucket": platform.bucket, "VersioningConfiguration": {"Status": "Suspended"}}),
            ]
            for operation, arguments in forbidden:
                with pytest.raises(ClientError) as denied:
                    getattr(s3, operation)(**arguments)
                assert denied.value.response["Error"]["Code"] == "AccessDenied", operation


def test_metrics_are_exposed_after_traffic(server: RunningServer) -> None:
    for _ in range(3):
        requests.get(f"{server.url}{TestEveryClientOfTheCluster.API}", timeout=10)
    body = requests.get(f"{server.url}/metrics", timeout=10).text
    assert "mlflow_http_request_total" in body
    assert "mlflow_http_request_duration_seconds_bucket" in body


def test_every_mlflow_metric_the_alerts_and_dashboard_use_is_served(server: RunningServer, prod: ProgramRun) -> None:
    """A metric renamed by an MLflow upgrade breaks the build here, not silently in production."""
    monitoring = [r.plain_inputs for r in prod.resources
                  if r.type.startswith("kubernetes:monitoring.coreos.com/") or r.name.endswith("-dashboard")]
    queries = json.dumps(monitoring)
    # mlflow_platform_*: the metrics sidecar's own (tests/runtime/test_prometheus.py scrapes it).
    used = {name for name in re.findall(r"\bmlflow_[a-z_]+", queries) if not name.startswith("mlflow_platform_")}
    used -= {"mlflow_version"}
    assert {"mlflow_http_request_total", "mlflow_http_request_duration_seconds_bucket"} <= used
    requests.get(f"{server.url}/api/2.0/mlflow/experiments/get?experiment_id=does-not-exist", timeout=10)
    body = requests.get(f"{server.url}/metrics", timeout=10).text
    for name in used:
        assert re.search(rf"^{name}\{{", body, re.M), f"{name} is not on /metrics"
    samples = [line for line in body.splitlines() if line.startswith("mlflow_http_request_total{")]
    # The labels the queries group and filter by.
    assert all('status="' in line and 'method="' in line for line in samples)
    assert any('status="4' in line for line in samples)


def test_database_connections_stay_within_the_budget_under_load(platform: Platform, server: RunningServer) -> None:
    """The preview-time connection budget is an upper bound of what one pod really opens."""
    experiment_id = MlflowClient().create_experiment("load")

    def load() -> None:
        client = MlflowClient()
        run_id = client.create_run(experiment_id).info.run_id
        deadline = time.monotonic() + 6
        step = 0
        while time.monotonic() < deadline:
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
            client.search_runs([experiment_id], max_results=5)
            step += 1

    peak = peak_connections(platform, [threading.Thread(target=load) for _ in range(24)])
    budget = declared_budget(server)
    print(f"peak PostgreSQL connections: {peak}, budget per pod: {budget.per_pod}")
    assert 0 < peak <= budget.per_pod


def test_a_burst_of_concurrent_log_batch_calls_all_succeed(platform: Platform, server: RunningServer) -> None:
    """log_batch holds two connections at once: a pool smaller than a worker's 40 request threads deadlocks
    under a burst (30 s pool timeout, HTTP 500). The benchmark found it with the earlier 3 + 2 pool."""
    run_id = MlflowClient().create_run(MlflowClient().create_experiment("burst")).info.run_id
    start = threading.Barrier(64)
    statuses: list[int] = []

    def client(index: int) -> None:
        session = requests.Session()
        start.wait()
        for round_ in range(2):
            metrics: list[dict[str, Any]] = [
                {"key": f"m{index}", "value": float(step), "timestamp": 1_700_000_000_000, "step": step}
                for step in range(round_ * 200, (round_ + 1) * 200)]
            response = session.post(f"{server.url}/api/2.0/mlflow/runs/log-batch", timeout=120,
                                    json={"run_id": run_id, "metrics": metrics})
            statuses.append(response.status_code)

    peak = peak_connections(platform, [threading.Thread(target=client, args=(i,)) for i in range(64)])
    assert statuses == [200] * 128
    assert peak <= declared_budget(server).per_pod
    history = MlflowClient().get_metric_history(run_id, "m63")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(400))


class TestTheE2eWorkflowsScripts:
    """e2e/run.sh runs these against the stack it deployed on kind; here they run against the server as
    declared, so the workflow's checks are known to work before it ever runs."""

    def script(self, server: RunningServer, platform: Platform, dev: ProgramRun, path: str,
               cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "MLFLOW_TRACKING_URI": server.url,
               "ARTIFACTS_DESTINATION": dev.stack_outputs["artifactsDestination"],
               "MLFLOW_S3_ENDPOINT_URL": platform.s3.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": platform.mlflow_keys[0], "AWS_SECRET_ACCESS_KEY": platform.mlflow_keys[1]}
        return subprocess.run([sys.executable, str(ROOT / path)], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=300)

    def test_the_seed_scenario_finds_its_artifact_in_the_bucket(
            self, server: RunningServer, platform: Platform, dev: ProgramRun, tmp_path: Path) -> None:
        result = self.script(server, platform, dev, "e2e/seed_scenario.py", tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"is s3://{platform.bucket}/{platform.prefix}" in result.stdout
        run = MlflowClient(server.url).search_runs(
            [mlflow.get_experiment_by_name("test-experiment").experiment_id])[0]
        assert run.data.params == {"test_param": "value"} and run.data.metrics == {"test_metric": 0.95}

    def test_the_seed_scenario_fails_when_the_artifact_is_not_where_the_stack_says(
            self, server: RunningServer, platform: Platform, dev: ProgramRun, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        """Guard the guard: a destination the server does not write to is reported."""
        wrong = ProgramRun(dev.stack, dev.resources, dev.component_outputs,
                           {**dev.stack_outputs, "artifactsDestination": f"s3://{platform.bucket}/elsewhere/"})
        result = self.script(server, platform, wrong, "e2e/seed_scenario.py", tmp_path)
        assert result.returncode == 1
        assert "elsewhere/" in result.stderr

    def test_the_readmes_first_run(self, server: RunningServer, platform: Platform, dev: ProgramRun,
                                   tmp_path: Path) -> None:
        result = self.script(server, platform, dev, "examples/first_run.py", tmp_path)
        assert result.returncode == 0, result.stderr
        experiment = mlflow.get_experiment_by_name("first-experiment")
        run = MlflowClient(server.url).search_runs([experiment.experiment_id])[0]
        assert run.data.metrics == {"rmse": 0.27}
        prefix = f"{platform.prefix}{experiment.experiment_id}/{run.info.run_id}/artifacts/"
        assert bucket_keys(platform, prefix) == [f"{prefix}notes.txt"]


class TestOverlongValues:
    """MLflow's behaviour by default (serverRejectOverlongValues false), the stricter one by choice."""

    LIMIT = 6000  # mlflow/utils/validation.py MAX_PARAM_VAL_LENGTH

    def test_an_overlong_param_is_truncated_and_the_script_goes_on(self, server: RunningServer) -> None:
        client = MlflowClient(server.url)
        run_id = client.create_run(client.create_experiment("overlong-default")).info.run_id
        client.log_param(run_id, "prompt", "x" * 7000)
        assert client.get_run(run_id).data.params["prompt"] == "x" * self.LIMIT

    def test_when_the_stack_rejects_overlong_values_the_call_fails_with_400(
            self, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> None:
        strict = run_program("dev", {"serverRejectOverlongValues": True})
        with migrated_server(strict, postgres_server, Path(tmp_path_factory.mktemp("strict")), "strict") as (_, running):
            client = MlflowClient(running.url)
            run_id = client.create_run(client.create_experiment("overlong-strict")).info.run_id
            with pytest.raises(mlflow.exceptions.MlflowException) as refused:
                client.log_param(run_id, "prompt", "x" * 7000)
            assert refused.value.get_http_status_code() == 400
            assert "prompt" not in client.get_run(run_id).data.params
