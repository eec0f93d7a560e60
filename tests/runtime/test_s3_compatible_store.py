"""Runtime: artifactBackend s3-compatible, a store the team already runs, with static keys in a Secret of theirs.

moto's S3 server plays the team's store at the endpoint the stack names (http://objects.storage.internal:9000, mapped
to loopback as the cluster's DNS would resolve it). What the team does by hand is done here the same way: a bucket,
an IAM user with the stack's exported `artifactBucketPolicy` attached, its access keys, and a Secret holding them under
the name the stack gives (the test supplies the Secret's content: the program never has it). The migration Job and the
server run exactly as declared, in the image's environment.

moto 5.2.5 checks a request's action and resource against the user's policy, but evaluates no S3 condition key (it
supplies only sts:ExternalId, moto/iam/utils.py format_incoming_conditional_values) and checks only the destination
of a CopyObject. So the listing condition (s3:prefix) and a copy *from* outside the prefix are not verified here;
on AWS, ListBucket is then refused outside the prefix and CopyObject needs s3:GetObject on its source.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from botocore.exceptions import ClientError
from mlflow.tracking import MlflowClient

from harness import ProgramRun, run_program
from mlflow_platform.artifact_bucket.iam_policies import mlflow_bucket_policy
from runtime.platform import DEPLOYMENT, SECRET, Platform, RunningServer, migrated_server
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime

TEAM_SECRET = "team-objects-keys"
STORE: dict[str, Any] = {
    "artifactBackend": "s3-compatible", "artifactBucket": "team-ml-artifacts", "artifactPrefix": "mlflow/",
    "artifactEndpointUrl": "http://objects.storage.internal:9000", "artifactCredentialsSecret": TEAM_SECRET,
    "artifactEndpointCidr": "10.20.0.0/24",
    # The dev stack's database backups go to MinIO's bucket; here there is none.
    "backupsEnabled": False,
}
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture(scope="module")
def store_run() -> ProgramRun:
    return run_program("dev", STORE)


@pytest.fixture(scope="module")
def store(store_run: ProgramRun, postgres_server: PostgresServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, RunningServer]]:
    """The declared migration, then the declared server, on moto set up as the team would set up its store."""
    with migrated_server(store_run, postgres_server, Path(tmp_path_factory.mktemp("s3-compatible")),
                         "s3-compatible") as started:
        yield started


@pytest.fixture(autouse=True)
def tracking_uri(store: tuple[Platform, RunningServer]) -> Iterator[None]:
    mlflow.set_tracking_uri(store[1].url)
    yield
    mlflow.set_tracking_uri("")


def test_the_store_is_set_up_with_the_exported_policy_and_no_other(store: tuple[Platform, RunningServer],
                                                                   store_run: ProgramRun) -> None:
    platform, _ = store
    iam = platform.s3.client("iam")
    attached = iam.get_user_policy(UserName="mlflow", PolicyName=f"{platform.bucket}-readwrite")["PolicyDocument"]
    attached = json.loads(attached) if isinstance(attached, str) else attached
    assert attached == json.loads(store_run.stack_outputs["artifactBucketPolicy"])
    assert attached == mlflow_bucket_policy("team-ml-artifacts", "mlflow/")
    assert iam.list_attached_user_policies(UserName="mlflow")["AttachedPolicies"] == []


def test_the_server_reads_the_keys_from_the_teams_secret(store: tuple[Platform, RunningServer],
                                                        store_run: ProgramRun) -> None:
    platform, server = store
    # The program declares no Secret of that name: the team creates it, and the test holds its content.
    assert TEAM_SECRET not in {s.k8s_name for s in store_run.of_type(SECRET)}
    declared = {e["name"]: e for e in server.declared.env}
    for key, value in zip(KEYS, platform.mlflow_keys, strict=True):
        assert declared[key]["valueFrom"]["secretKeyRef"] == {"name": TEAM_SECRET, "key": key}
        assert server.env[key] == value
    assert server.env["MLFLOW_S3_ENDPOINT_URL"] == platform.s3.endpoint
    assert declared["MLFLOW_S3_ENDPOINT_URL"]["value"] == STORE["artifactEndpointUrl"]
    assert server.env["MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE"] == "path"
    assert store_run.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["template"]["spec"]["serviceAccountName"] == "mlflow"


def test_seed_scenario_with_only_the_exported_policy(store: tuple[Platform, RunningServer], tmp_path: Path) -> None:
    """Experiment, param, metric and artifact, with moto checking every request of the server against the user's
    policy; the artifact is then found in the bucket under the prefix, with the bucket owner's keys."""
    platform, _ = store
    artifact = tmp_path / "result.txt"
    artifact.write_text("s3-compatible artifact\n")
    with platform.s3.enforcing_iam():
        experiment_id = mlflow.set_experiment("s3-compatible").experiment_id
        with mlflow.start_run() as run:
            mlflow.log_param("store", "s3-compatible")
            mlflow.log_metric("rmse", 0.27)
            mlflow.log_artifact(str(artifact))
        listed = [f.path for f in MlflowClient().list_artifacts(run.info.run_id)]
    fetched = MlflowClient().get_run(run.info.run_id)
    assert fetched.data.params == {"store": "s3-compatible"}
    assert fetched.data.metrics == {"rmse": 0.27}
    assert listed == ["result.txt"]
    key = f"{platform.prefix}{experiment_id}/{run.info.run_id}/artifacts/result.txt"
    assert platform.prefix == "mlflow/"
    owner = platform.s3.client("s3")
    assert [o["Key"] for o in owner.list_objects_v2(Bucket=platform.bucket, Prefix=platform.prefix)["Contents"]] == [key]
    assert owner.get_object(Bucket=platform.bucket, Key=key)["Body"].read() == b"s3-compatible artifact\n"
    # And back through MLflow's proxy (a download moto does not check: MLflow signs it as a presigned URL).
    downloaded = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="result.txt",
                                                     dst_path=str(tmp_path / "back"))
    assert Path(downloaded).read_text() == "s3-compatible artifact\n"


def test_the_credential_cannot_read_or_write_outside_the_prefix(store: tuple[Platform, RunningServer]) -> None:
    platform, _ = store
    owner = platform.s3.client("s3")
    owner.put_object(Bucket=platform.bucket, Key="finance/ledger.csv", Body=b"not MLflow's")
    owner.create_bucket(Bucket="team-other-bucket")
    owner.put_object(Bucket="team-other-bucket", Key="mlflow/report.txt", Body=b"another team's")
    s3 = platform.s3.client("s3", platform.mlflow_keys)
    with platform.s3.enforcing_iam():
        inside = f"{platform.prefix}probe/inside.txt"
        s3.put_object(Bucket=platform.bucket, Key=inside, Body=b"ok")
        assert s3.get_object(Bucket=platform.bucket, Key=inside)["Body"].read() == b"ok"
        s3.delete_object(Bucket=platform.bucket, Key=inside)
        forbidden: list[tuple[str, dict[str, Any]]] = [
            ("get_object", {"Bucket": platform.bucket, "Key": "finance/ledger.csv"}),
            ("put_object", {"Bucket": platform.bucket, "Key": "finance/ledger.csv", "Body": b"overwritten"}),
            ("put_object", {"Bucket": platform.bucket, "Key": "outside-the-prefix.txt", "Body": b"no"}),
            ("delete_object", {"Bucket": platform.bucket, "Key": "finance/ledger.csv"}),
            ("create_multipart_upload", {"Bucket": platform.bucket, "Key": "finance/big.bin"}),
            ("get_object", {"Bucket": "team-other-bucket", "Key": "mlflow/report.txt"}),
            ("put_object", {"Bucket": "team-other-bucket", "Key": "mlflow/x.txt", "Body": b"no"}),
            ("list_buckets", {}),
            ("create_bucket", {"Bucket": "another-bucket"}),
            ("put_bucket_policy", {"Bucket": platform.bucket, "Policy": "{}"}),
            ("delete_bucket_policy", {"Bucket": platform.bucket}),
            ("put_bucket_versioning", {"Bucket": platform.bucket, "VersioningConfiguration": {"Status": "Suspended"}}),
        ]
        for operation, arguments in forbidden:
            with pytest.raises(ClientError) as denied:
                getattr(s3, operation)(**arguments)
            assert denied.value.response["Error"]["Code"] == "AccessDenied", (operation, arguments)
        with pytest.raises(ClientError) as denied:
            s3.head_object(Bucket=platform.bucket, Key="finance/ledger.csv")
        assert denied.value.response["Error"]["Code"] == "403"  # HEAD has no body: botocore reports the status
    assert owner.get_object(Bucket=platform.bucket, Key="finance/ledger.csv")["Body"].read() == b"not MLflow's"
