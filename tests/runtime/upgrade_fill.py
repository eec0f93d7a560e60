"""Fills a tracking server the way users of an older MLflow did, with that release's own client.

Run by tests/runtime/test_upgrades.py with the old release's Python (tests/runtime/old_mlflow.py), against that
release's server; it uses only APIs the 2.22, 3.0 and 3.16 clients share, and prints what it made as JSON.

    <old env>/bin/python upgrade_fill.py <tracking url> <bulk metric rows>
"""

import json
import sys
import time

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

BATCH = 1000  # the REST API's limit of metrics per log_batch


def trace_id(span: object) -> str:
    """The span's trace: MLflow 3 names it trace_id; 2.x request_id (its span.trace_id is OpenTelemetry's)."""
    return str(getattr(span, "trace_id" if mlflow.__version__.startswith("3.") else "request_id"))


def main(url: str, bulk_rows: int) -> dict[str, object]:
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    experiment_id = client.create_experiment("upgrade", tags={"team": "ml", "source": mlflow.__version__})
    mlflow.set_experiment(experiment_id=experiment_id)
    runs = {}
    for index in range(3):
        with mlflow.start_run(run_name=f"run-{index}") as run:
            mlflow.log_params({"lr": str(0.1 * (index + 1)), "layers": "4"})
            mlflow.set_tags({"stage": "upgrade-test", "index": str(index)})
            for step in range(50):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
            mlflow.log_text(f"notes of run {index}", "notes/readme.txt")
            mlflow.log_dict({"index": index}, "model/MLmodel.json")
            runs[f"run-{index}"] = run.info.run_id

    model = "upgrade-model"
    client.create_registered_model(model, tags={"owner": "ml"})
    for name in ("run-0", "run-1"):
        run_info = client.get_run(runs[name]).info
        client.create_model_version(model, f"{run_info.artifact_uri}/model", run_id=runs[name])
    client.set_registered_model_alias(model, "champion", "2")
    client.set_model_version_tag(model, "2", "validated", "yes")

    traces = []

    @mlflow.trace(name="predict")  # type: ignore[untyped-decorator]  # untyped in every release
    def predict(x: int) -> int:
        traces.append(trace_id(mlflow.get_current_active_span()))
        with mlflow.start_span(name="inner") as span:
            span.set_inputs({"x": x})
            span.set_outputs({"y": x * 2})
        return x * 2

    predict(21)
    if hasattr(mlflow, "flush_trace_async_logging"):
        mlflow.flush_trace_async_logging()
    # Read back through this release's own server: what the upgrade must keep readable.
    spans = sorted(span.name for span in client.get_trace(traces[0]).data.spans)
    assert spans == ["inner", "predict"], spans

    bulk = client.create_run(experiment_id, run_name="bulk").info.run_id
    started = time.monotonic()
    for offset in range(0, bulk_rows, BATCH):
        client.log_batch(bulk, metrics=[Metric("bulk", float(step), 1_700_000_000_000 + step, step)
                                        for step in range(offset, min(offset + BATCH, bulk_rows))])
    client.set_terminated(bulk)
    return {"version": mlflow.__version__, "experiment_id": experiment_id, "runs": runs, "trace_id": traces[0],
            "bulk_run_id": bulk, "bulk_rows": bulk_rows, "bulk_seconds": round(time.monotonic() - started, 1)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
