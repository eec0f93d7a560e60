"""The original workstream's acceptance, against a deployed stack: the artifact must land in the bucket.

Environment: MLFLOW_TRACKING_URI (the stack's trackingUrl), ARTIFACTS_DESTINATION (its
artifactsDestination output, s3://bucket/prefix/), and S3 access for the check: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and, for MinIO, MLFLOW_S3_ENDPOINT_URL. Exits non-zero with the reason.
"""

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import mlflow
from mlflow.tracking import MlflowClient


def main() -> int:
    destination = urlsplit(os.environ["ARTIFACTS_DESTINATION"])
    bucket, prefix = destination.netloc, destination.path.lstrip("/")
    mlflow.set_experiment("test-experiment")
    with tempfile.TemporaryDirectory() as workdir, mlflow.start_run() as run:
        mlflow.log_param("test_param", "value")
        mlflow.log_metric("test_metric", 0.95)
        artifact = Path(workdir) / "seed.txt"
        artifact.write_text(f"seed scenario, run {run.info.run_id}\n")
        mlflow.log_artifact(str(artifact))

    logged = MlflowClient().get_run(run.info.run_id).data
    problems = []
    if logged.params.get("test_param") != "value":
        problems.append(f"param test_param is {logged.params.get('test_param')!r}")
    if logged.metrics.get("test_metric") != 0.95:
        problems.append(f"metric test_metric is {logged.metrics.get('test_metric')!r}")
    s3 = boto3.client("s3", endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None)
    key = f"{prefix}{run.info.experiment_id}/{run.info.run_id}/artifacts/seed.txt"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except s3.exceptions.NoSuchKey:
        body = None
    if body != f"seed scenario, run {run.info.run_id}\n":
        problems.append(f"s3://{bucket}/{key} holds {body!r}")
    for problem in problems:
        print(f"seed scenario: {problem}", file=sys.stderr)
    if not problems:
        print(f"seed scenario: run {run.info.run_id} logged; its artifact is s3://{bucket}/{key}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
