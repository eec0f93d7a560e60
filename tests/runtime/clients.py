"""The requests real clients of the cluster send, for the runtime tests that play them."""

import threading
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import requests
from mlflow.tracking import MlflowClient

from mlflow_platform.mlflow_server.connection_budget import ConnectionBudget
from runtime.generated import POD_IP
from runtime.platform import Platform, RunningServer

# What Prometheus 3 sends on a scrape (prometheus/scrape/scrape.go, acceptHeader and the request it builds).
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
              "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
              "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "User-Agent": "Prometheus/3.7.3",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


def kubelet_probe(server: RunningServer, probe: str) -> requests.Response:
    """A declared probe as the kubelet sends it: to the pod IP, its declared headers, else `Host: <pod IP>:<port>`
    (kubernetes pkg/probe/http/request.go, NewRequestForHTTPGetAction); no token, no workspace."""
    action = server.declared.probes[probe]["httpGet"]
    headers = {"Host": f"{POD_IP}:{server.declared_port}", "User-Agent": "kube-probe/1.35", "Accept": "*/*"}
    headers |= {h["name"]: h["value"] for h in action.get("httpHeaders", [])}
    return requests.get(f"{server.url}{action['path']}", headers=headers, timeout=10)


# mlflow/genai/scorers/job.py: the job the online-scoring scheduler submits for trace-level scorers.
ONLINE_TRACE_SCORER_JOB = "run_online_trace_scorer"


def gateway_endpoint(name: str) -> str:
    """An AI-gateway endpoint, made as the UI makes one (a provider key, a model definition, an endpoint), with the
    current tracking URI; returns the model URI a judge names it by. The key is not a real one."""
    from mlflow.entities.gateway_endpoint import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.tracking import MlflowClient

    store = MlflowClient()._tracking_client.store
    secret = store.create_gateway_secret(secret_name=f"{name}-key", secret_value={"api_key": "sk-not-a-real-key"},
                                         provider="openai")
    model = store.create_gateway_model_definition(name=f"{name}-model", secret_id=secret.secret_id, provider="openai",
                                                  model_name="gpt-4o-mini")
    store.create_gateway_endpoint(name=name, model_configs=[
        GatewayEndpointModelConfig(model_definition_id=model.model_definition_id,
                                   linkage_type=GatewayModelLinkageType.PRIMARY)])
    return f"gateway:/{name}"


def start_online_scoring(experiment_id: str) -> None:
    """What a user runs to score every new trace (MLflow's `Scorer.register` then `start`), with the current
    tracking URI. MLflow only scores online with a judge whose model is an AI-gateway endpoint
    (sqlalchemy_store.py upsert_online_scoring_config); the endpoint's key is not a real one, so what is checked is
    that the scheduler submits the job, not its verdict."""
    from mlflow.genai.scorers import Guidelines, ScorerSamplingConfig

    model = gateway_endpoint(f"judge-{experiment_id}-{time.time_ns()}")
    judge = Guidelines(name="polite", guidelines="The response is polite.", model=model)
    judge.register(name="polite", experiment_id=experiment_id).start(
        experiment_id=experiment_id, sampling_config=ScorerSamplingConfig(sample_rate=1.0))


def wait_for_online_scoring_job(jobs_url: str, experiment_id: str, timeout: float = 180) -> float | None:
    """Seconds until the periodic scheduler (a Huey task every minute, mlflow/server/jobs/utils.py
    register_periodic_tasks) has submitted a scoring job for the experiment, found through the job API's search;
    None if none came within the timeout."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        found = requests.post(f"{jobs_url}/ajax-api/3.0/jobs/search", timeout=30, json={
            "job_name": ONLINE_TRACE_SCORER_JOB, "params": {"experiment_id": experiment_id}})
        found.raise_for_status()
        if found.json()["jobs"]:
            return round(time.monotonic() - began, 1)
        time.sleep(1)
    return None


def seed_run(platform: Platform[Any], experiment: str, workdir: Path) -> tuple[str, str]:
    """The seed scenario through the current tracking URI: an experiment, a run with a param, a metric and an
    artifact; checked through MLflow and, with the bucket owner's keys, in the bucket where the stack says.
    Returns (experiment ID, run ID)."""
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    artifact = workdir / "result.txt"
    artifact.write_text(f"acceptance artifact of {experiment}\n")
    with mlflow.start_run() as run:
        mlflow.log_param("test_param", "value")
        mlflow.log_metric("test_metric", 0.95)
        mlflow.log_artifact(str(artifact))
    fetched = MlflowClient().get_run(run.info.run_id)
    assert fetched.data.params == {"test_param": "value"}
    assert fetched.data.metrics == {"test_metric": 0.95}
    key = f"{platform.prefix}{experiment_id}/{run.info.run_id}/artifacts/result.txt"
    body = platform.s3.client("s3").get_object(Bucket=platform.bucket, Key=key)["Body"].read()
    assert body == artifact.read_bytes()
    return str(experiment_id), run.info.run_id


def registry_alias_round_trip(model_name: str) -> None:
    """A pyfunc model logged and registered, an alias set, and the model loaded by models:/<name>@champion."""

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.Series:
            return model_input["x"] * 2

    mlflow.set_experiment(f"{model_name}-registry")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(), pip_requirements=["pandas"],
                                       registered_model_name=model_name)
    client = MlflowClient()
    client.set_registered_model_alias(model_name, "champion", info.registered_model_version)
    assert client.get_model_version_by_alias(model_name, "champion").version == str(info.registered_model_version)
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    assert list(model.predict(pd.DataFrame({"x": [1, 2, 3]}))) == [2, 4, 6]


def declared_budget(server: RunningServer) -> ConnectionBudget:
    env = server.env
    return ConnectionBudget(max_replicas=1, workers=int(server.argv[server.argv.index("--workers") + 1]),
                            pool_size=int(env["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"]),
                            max_overflow=int(env["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"]),
                            job_execution=env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true")


def peak_connections(platform: Platform[Any], clients: list[threading.Thread]) -> int:
    """Run the clients to the end while sampling the server's connections to its database (PostgreSQL or MariaDB)."""
    stop = threading.Event()
    peak = 0

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, platform.postgres.connections_to(platform.database))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    stop.set()
    sampler.join()
    return peak
