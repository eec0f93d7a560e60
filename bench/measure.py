"""What the benchmark measures: start-up, memory of the process tree, request latency and throughput,
artifact transfer through the proxy, and PostgreSQL's raw ingestion rate."""

import contextlib
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import requests

from bench.stats import percentile
from runtime.platform import Platform, RunningServer

API = "/api/2.0/mlflow"


def process_tree(session: int) -> dict[str, float]:
    """PSS and RSS (MiB) and process count of every process in the server's session (it runs in its own)."""
    pss = rss = count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != session:  # field 6 of stat: the session id
                continue
            rollup = (entry / "smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        values = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:] if ":" in line}
        pss += values.get("Pss", 0)
        rss += values.get("Rss", 0)
        count += 1
    return {"pss_mib": round(pss / 1024, 1), "rss_mib": round(rss / 1024, 1), "processes": count}


class MemorySampler:
    """The peak of the process tree's PSS while a block of work runs."""

    def __init__(self, session: int) -> None:
        self.session, self.peak, self._stop = session, {"pss_mib": 0.0, "rss_mib": 0.0, "processes": 0}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = process_tree(self.session)
            if sample["pss_mib"] > self.peak["pss_mib"]:
                self.peak = sample
            time.sleep(0.25)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def first_api_call_seconds(server: RunningServer, timeout: float = 120) -> float:
    """Seconds from process start to the first successful API call (which needs the database)."""
    started = time.monotonic() - server.startup_seconds
    while time.monotonic() - started < timeout:
        try:
            if requests.get(f"{server.url}{API}/experiments/search?max_results=1", timeout=5).status_code == 200:
                return round(time.monotonic() - started, 2)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError("no successful API call")


@dataclass
class Workload:
    """Objects the operations write to and read from, created once per server."""

    experiment_id: str
    run_id: str
    search_experiment_id: str
    history_run_id: str
    counter: Any = field(default_factory=itertools.count)


def prepare(url: str, search_runs: int, history_points: int, headers: dict[str, str] | None = None) -> Workload:
    """`headers`: what every request carries (e.g. a bearer token, with the auth app)."""
    session = requests.Session()
    session.headers.update(headers or {})

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = session.post(f"{url}{API}/{path}", json=body, timeout=60)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    experiment = post("experiments/create", {"name": f"bench-{time.time_ns()}"})["experiment_id"]
    search = post("experiments/create", {"name": f"bench-search-{time.time_ns()}"})["experiment_id"]
    run_id = post("runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
    history = post("runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
    for start in range(0, history_points, 1000):
        post("runs/log-batch", {"run_id": history, "metrics": [
            {"key": "history", "value": float(i), "timestamp": 1_700_000_000_000 + i, "step": i}
            for i in range(start, min(start + 1000, history_points))]})
    threads = [threading.Thread(target=lambda n: [post("runs/create", {"experiment_id": search}) for _ in range(n)],
                                args=(search_runs // 8 + (1 if i < search_runs % 8 else 0),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Workload(experiment, run_id, search, history)


def _metric(step: int) -> dict[str, Any]:
    return {"key": "m", "value": float(step), "timestamp": 1_700_000_000_000 + step, "step": step}


Operation = Callable[[requests.Session, str, Workload], requests.Response]
OPERATIONS: dict[str, tuple[Operation, int]] = {
    # name: (one request, metrics it carries)
    "log_metric": (lambda s, u, w: s.post(f"{u}{API}/runs/log-metric", json={"run_id": w.run_id, **_metric(next(w.counter))},
                                          timeout=60), 1),
    "log_batch_1000": (lambda s, u, w: s.post(f"{u}{API}/runs/log-batch", timeout=60, json={
        "run_id": w.run_id, "metrics": [_metric(next(w.counter)) for _ in range(1000)]}), 1000),
    "log_param": (lambda s, u, w: s.post(f"{u}{API}/runs/log-parameter", timeout=60,
                                         json={"run_id": w.run_id, "key": f"p{next(w.counter)}", "value": "v"}), 0),
    "create_run": (lambda s, u, w: s.post(f"{u}{API}/runs/create", json={"experiment_id": w.experiment_id},
                                          timeout=60), 0),
    "search_runs": (lambda s, u, w: s.post(f"{u}{API}/runs/search", timeout=60,
                                           json={"experiment_ids": [w.search_experiment_id], "max_results": 100}), 0),
    "get_metric_history": (lambda s, u, w: s.get(f"{u}{API}/metrics/get-history", timeout=60,
                                                 params={"run_id": w.history_run_id, "metric_key": "history"}), 0),
}


def run_load(url: str, workload: Workload, operation: str, concurrency: int, seconds: float,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
    """`concurrency` clients, each one request at a time, for `seconds`: throughput and latency percentiles."""
    call, metrics_per_call = OPERATIONS[operation]
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        session = requests.Session()
        session.headers.update(headers or {})
        while time.monotonic() < deadline:
            began = time.perf_counter()
            ok = call(session, url, workload).status_code == 200
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                errors += not ok

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return {"requests": len(latencies), "errors": errors, "per_s": round(len(latencies) / elapsed, 1),
            "metrics_per_s": round(len(latencies) * metrics_per_call / elapsed, 1),
            **{f"p{p}_ms": round(percentile(latencies, p) * 1000, 1) for p in (50, 95, 99)}}


DOWNLOAD_LIMIT = 100 << 20


_PROXY_ONLY = {"MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false"}


def artifact_throughput(platform: Platform, server: RunningServer, size: int, workdir: Path) -> dict[str, float | None]:
    """Upload and download through the server's proxy (presigned transfers off), and the multipart upload the
    client switches to by itself from 500 MB (the server advertises it; parts go straight to S3), in MB/s.

    Downloads above 100 MiB are not timed: moto's GET of a 1 GB object is the bottleneck, not MLflow."""
    import mlflow
    from mlflow.tracking import MlflowClient

    path = workdir / f"artifact-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        with path.open("wb") as handle:
            for _ in range(size // (1 << 20) or 1):
                handle.write(os.urandom(min(size, 1 << 20)))
    client = MlflowClient(tracking_uri=server.url)
    run_id = client.create_run("0").info.run_id

    def upload(artifact_path: str) -> float:
        began = time.perf_counter()
        client.log_artifact(run_id, str(path), artifact_path=artifact_path)
        return size / 1e6 / (time.perf_counter() - began)

    download = None
    with _environment(_PROXY_ONLY):
        proxied = upload("proxied")
        if size <= DOWNLOAD_LIMIT:
            began = time.perf_counter()
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"proxied/{path.name}",
                                                dst_path=str(workdir / "down"), tracking_uri=server.url)
            download = size / 1e6 / (time.perf_counter() - began)
            shutil.rmtree(workdir / "down")
    # The switch left to the client's default (auto-detected from /server-info), the threshold lowered to this size.
    with _environment({"MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(size)}):
        multipart = upload("multipart")
    return {"upload_mb_s": round(proxied, 1), "download_mb_s": round(download, 1) if download else None,
            "multipart_upload_mb_s": round(multipart, 1)}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def direct_s3_throughput(platform: Platform, size: int, workdir: Path) -> float:
    """The physical limit of this setup: boto3 straight to the S3 server, MB/s."""
    path = workdir / f"artifact-{size}.bin"
    s3 = boto3.client("s3", endpoint_url=platform.s3.endpoint, region_name="us-east-1",
                      aws_access_key_id=platform.mlflow_keys[0], aws_secret_access_key=platform.mlflow_keys[1])
    began = time.perf_counter()
    s3.upload_file(str(path), platform.bucket, f"{platform.prefix}direct/{size}.bin")
    return round(size / 1e6 / (time.perf_counter() - began), 1)


def raw_ingestion(postgres_url: str, rows: int) -> dict[str, float]:
    """Rows/s PostgreSQL accepts for rows shaped like MLflow's metrics table: executemany and COPY."""
    import io

    connection = psycopg2.connect(postgres_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_metrics (key varchar(250), value double precision, "
                           "timestamp bigint, step bigint, is_nan boolean, run_uuid varchar(32), "
                           "PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan))")
            data = [("m", float(i), 1_700_000_000_000 + i, i, False, "0" * 32) for i in range(rows)]
            began = time.perf_counter()
            cursor.executemany("INSERT INTO bench_metrics VALUES (%s, %s, %s, %s, %s, %s)", data)
            connection.commit()
            executemany = rows / (time.perf_counter() - began)
            cursor.execute("TRUNCATE bench_metrics")
            buffer = io.StringIO("".join(f"m\t{v}\t{t}\t{s}\tf\t{r}\n" for _, v, t, s, _, r in data))
            began = time.perf_counter()
            cursor.copy_from(buffer, "bench_metrics")
            connection.commit()
            copy = rows / (time.perf_counter() - began)
    finally:
        connection.close()
    return {"executemany_rows_s": round(executemany), "copy_rows_s": round(copy)}
