"""What MLflow's users do with the real client, against the stack's servers as declared and against a plain
`mlflow server` on the same database and bucket: each check must pass on both (parity), so the stack keeps
MLflow's behaviour.

The stack here is the dev stack with serverJobExecution on: the API server, and the jobs server for the routes
the front door sends there (JOB_ROUTES). Both run in the image's Python environment, as does the plain server
(MLflow's defaults: 4 workers and its own job runner).
"""

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient

from runtime.clients import start_online_scoring, wait_for_online_scoring_job
from runtime.platform import Platform, stopping

pytestmark = pytest.mark.runtime


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    jobs_url: str
    """Where a job submission goes: the stack's jobs server (as its front door routes), or the plain server."""


@pytest.fixture(scope="module")
def targets(jobs_platform: Platform) -> Iterator[dict[str, Target]]:
    with stopping(jobs_platform.start_server("api")) as api, \
            stopping(jobs_platform.start_server("jobs", deployment="mlflow-jobs")) as jobs, \
            stopping(jobs_platform.start_plain_server("plain")) as plain:
        yield {"stack": Target("stack", api.url, jobs.url), "mlflow-server": Target("mlflow-server", plain.url,
                                                                                      plain.url)}


@pytest.fixture(params=["stack", "mlflow-server"])
def target(request: pytest.FixtureRequest, targets: dict[str, Target],
           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Target]:
    chosen = targets[request.param]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen.url)
    monkeypatch.setenv("HOME", str(tmp_path))
    mlflow.set_tracking_uri(chosen.url)
    yield chosen
    mlflow.set_tracking_uri(None)


def experiment(target: Target, name: str) -> str:
    return str(mlflow.set_experiment(f"{name}-{target.name}-{time.time_ns()}").experiment_id)


def test_experiments_runs_batches_and_metric_history(target: Target) -> None:
    experiment_id = experiment(target, "tracking")
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_params({"lr": "0.1", "layers": "3"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        client.log_batch(run.info.run_id, metrics=[mlflow.entities.Metric("acc", 0.9, 0, 0)],
                         tags=[mlflow.entities.RunTag("team", "vision")])
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    found = mlflow.search_runs([experiment_id], filter_string="params.lr = '0.1'", output_format="list")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert found[0].data.tags["team"] == "vision" and found[0].data.metrics["acc"] == 0.9


def test_artifacts_a_file_a_directory_and_10_mb(target: Target, tmp_path: Path) -> None:
    experiment(target, "artifacts")
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "a.txt").write_text("a")
    (tmp_path / "dir" / "sub" / "b.txt").write_text("b")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(10 * 1024 * 1024))
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_artifacts(str(tmp_path / "dir"), "dir")
        mlflow.log_artifact(str(big))
    out = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "out")))
    assert (out / "notes" / "hello.txt").read_text() == "hello"
    assert (out / "dir" / "sub" / "b.txt").read_text() == "b"
    assert (out / "big.bin").read_bytes() == big.read_bytes()


class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]  # mlflow is untyped here
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return model_input * 2


def test_a_logged_model_registered_with_an_alias_loads_by_models_uri(target: Target) -> None:
    experiment(target, "models")
    name = f"doubler-{target.name}-{time.time_ns()}"
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name=name,
                                       pip_requirements=["mlflow"])
    assert info.model_id  # MLflow 3's logged model entity
    client = MlflowClient()
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert loaded.predict(pd.DataFrame({"x": [1, 2]}))["x"].tolist() == [2, 4]


def test_a_dataset_logged_as_a_run_input(target: Target) -> None:
    experiment(target, "datasets")
    dataset = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2, 3]}), name="train-set")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    (logged,) = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "train-set" and logged.dataset.digest == dataset.digest


def test_traces_spans_search_and_assessments(target: Target) -> None:
    experiment_id = experiment(target, "tracing")

    @mlflow.trace  # type: ignore[untyped-decorator]
    def answer(question: str) -> str:
        with mlflow.start_span("retrieve") as span:
            span.set_inputs({"q": question})
        return question.upper()

    assert answer("why") == "WHY"
    mlflow.flush_trace_async_logging()
    (trace,) = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert {span.name for span in trace.data.spans} == {"answer", "retrieve"}
    mlflow.log_feedback(trace_id=trace.info.trace_id, name="helpful", value=True)
    assessments = mlflow.get_trace(trace.info.trace_id).info.assessments
    assert [(a.name, a.value) for a in assessments] == [("helpful", True)]


def test_otlp_ingest_on_v1_traces(target: Target) -> None:
    """What an OpenTelemetry SDK's OTLP/HTTP exporter sends (protobuf), with MLflow's experiment header."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    experiment_id = experiment(target, "otlp")
    now = time.time_ns()
    span = Span(trace_id=os.urandom(16), span_id=os.urandom(8), name="otel-root", start_time_unix_nano=now,
                end_time_unix_nano=now + 1_000_000)
    body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    sent = requests.post(f"{target.url}/v1/traces", data=body.SerializeToString(), timeout=30,
                         headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id})
    assert sent.status_code == 200, sent.text
    (trace,) = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert [s.name for s in trace.data.spans] == ["otel-root"]


def test_prompts_register_and_load(target: Target) -> None:
    name = f"greeting-{target.name}-{time.time_ns()}"
    mlflow.genai.register_prompt(name=name, template="Hello {{person}}")
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1").format(person="Ada") == "Hello Ada"


def test_genai_evaluate_with_a_code_scorer(target: Target) -> None:
    from mlflow.genai.scorers import scorer

    experiment(target, "evaluate")

    @scorer  # type: ignore[untyped-decorator]
    def exact(outputs: str, expectations: dict[str, str]) -> bool:
        return outputs == expectations["answer"]

    result = mlflow.genai.evaluate(
        data=[{"inputs": {"q": "a"}, "expectations": {"answer": "A"}},
              {"inputs": {"q": "b"}, "expectations": {"answer": "x"}}],
        predict_fn=lambda q: q.upper(), scorers=[exact])
    assert result.metrics["exact/mean"] == 0.5


def test_online_scoring_schedules_a_job(target: Target) -> None:
    """Both targets share the database, so either scheduler may submit the job here: tests/runtime/test_jobs.py
    shows the stack's jobs pod doing it alone."""
    experiment_id = experiment(target, "online-scoring")
    start_online_scoring(experiment_id)
    assert wait_for_online_scoring_job(target.jobs_url, experiment_id) is not None


def test_the_uis_run_judge_is_accepted_as_a_job(target: Target) -> None:
    """POST /ajax-api/3.0/mlflow/scorer/invoke, as the UI's "run judge" sends it. The judge's model needs a
    provider key this machine does not have, so only the submission is checked, not the verdict."""
    from mlflow.genai.scorers import Guidelines

    experiment_id = experiment(target, "judge")

    @mlflow.trace  # type: ignore[untyped-decorator]
    def reply(text: str) -> str:
        return f"Thank you: {text}"

    reply("hi")
    mlflow.flush_trace_async_logging()
    (trace,) = mlflow.search_traces(locations=[experiment_id], return_type="list")
    judge = Guidelines(name="polite", guidelines="The response is polite.", model="openai:/gpt-4o-mini")
    response = requests.post(f"{target.jobs_url}/ajax-api/3.0/mlflow/scorer/invoke", timeout=30, json={
        "experiment_id": experiment_id, "serialized_scorer": json.dumps(judge.model_dump()),
        "trace_ids": [trace.info.trace_id]})
    assert response.status_code == 200, response.text
    assert [job["trace_ids"] for job in response.json()["jobs"]] == [[trace.info.trace_id]]
