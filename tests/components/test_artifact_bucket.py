"""ArtifactBucket (MinIO): a private versioned bucket and a user that can reach only that bucket."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import DEPLOYMENT, JOB, PVC, SECRET, SERVICE, component, container, env_of, pod_spec
from harness import ProgramRun, is_secret
from mlflow_platform.artifact_bucket import ArtifactBucketArgs
from mlflow_platform.artifact_bucket.iam_policies import (
    backup_bucket_policy,
    minio_lifecycle,
    mlflow_bucket_policy,
    mlflow_bucket_policy_json,
)
from mlflow_platform.artifact_bucket.minio import SETUP_SCRIPT
from mlflow_platform.versions import MINIO_CLIENT_IMAGE, MINIO_IMAGE

HERE = Path(__file__).parent


def test_declares_minio_volume_service_secrets_and_setup_job(dev: ProgramRun) -> None:
    bucket = component(dev, "ArtifactBucket")
    children = {(r.type, r.name) for r in dev.children_of(bucket) if r.type.startswith("kubernetes:")}
    assert children == {
        (DEPLOYMENT, "mlflow-artifacts"),
        (PVC, "mlflow-artifacts-data"),
        (SERVICE, "mlflow-artifacts"),
        (SECRET, "mlflow-artifacts-root"),
        (SECRET, "mlflow-artifacts-mlflow-credentials"),
        (SECRET, "mlflow-artifacts-backup-credentials"),
        (JOB, "mlflow-artifacts-setup"),
    }


def test_minio_runs_pinned_non_root_with_generated_root_credentials(dev: ProgramRun) -> None:
    minio = dev.one(DEPLOYMENT, "mlflow-artifacts")
    spec = container(minio)
    assert spec["image"] == MINIO_IMAGE
    assert spec["args"][:2] == ["server", "/data"]
    assert pod_spec(minio)["securityContext"]["runAsNonRoot"] is True
    env = env_of(spec)
    for name, key in (("MINIO_ROOT_USER", "user"), ("MINIO_ROOT_PASSWORD", "password")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-artifacts-root", "key": key}
    assert minio.plain_inputs["spec"]["strategy"] == {"type": "Recreate"}


def test_credentials_are_secret(dev: ProgramRun) -> None:
    for name in ("mlflow-artifacts-root", "mlflow-artifacts-mlflow-credentials"):
        assert is_secret(dev.one(SECRET, name).inputs["stringData"])
    keys = set(dev.one(SECRET, "mlflow-artifacts-mlflow-credentials").plain_inputs["stringData"])
    assert keys == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_setup_job_creates_the_bucket_for_the_scoped_user_not_root(dev: ProgramRun) -> None:
    job = dev.one(JOB, "mlflow-artifacts-setup")
    spec = container(job)
    assert spec["image"] == MINIO_CLIENT_IMAGE
    assert spec["command"] == ["/bin/sh", "-c", SETUP_SCRIPT]
    env = env_of(spec)
    assert env["BUCKET"]["value"] == "mlflow-artifacts"
    assert json.loads(env["POLICY_JSON"]["value"]) == mlflow_bucket_policy("mlflow-artifacts", "mlflow/")
    assert env["MLFLOW_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-artifacts-mlflow-credentials"
    # The root alias is assembled by Kubernetes from Secret-backed variables: no credential in the spec.
    assert env["MC_HOST_root"]["value"] == (
        "http://$(MINIO_ROOT_USER):$(MINIO_ROOT_PASSWORD)@mlflow-artifacts.mlflow.svc.cluster.local:9000"
    )
    assert job.dependencies, "the Job must wait for MinIO"


def test_setup_job_creates_a_write_only_backup_user_and_the_lifecycle(dev: ProgramRun) -> None:
    env = env_of(container(dev.one(JOB, "mlflow-artifacts-setup")))
    assert json.loads(env["BACKUP_POLICY_JSON"]["value"]) == backup_bucket_policy("mlflow-artifacts", "backups/")
    assert env["BACKUP_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-artifacts-backup-credentials"
    rules = {r["ID"]: r for r in json.loads(env["LIFECYCLE_JSON"]["value"])["Rules"]}
    assert rules["expire-backups"] == {"ID": "expire-backups", "Status": "Enabled", "Filter": {"Prefix": "backups/"},
                                       "Expiration": {"Days": 30}}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def test_backup_user_can_write_backups_but_not_read_or_delete_them() -> None:
    statements = {s["Sid"]: s for s in backup_bucket_policy("b", "backups/")["Statement"]}
    assert statements["WriteBackups"]["Resource"] == ["arn:aws:s3:::b/backups/*"]
    assert not {"s3:GetObject", "s3:DeleteObject"} & set(statements["WriteBackups"]["Action"])


def test_bucket_policy_allows_only_the_artifact_prefix() -> None:
    policy = mlflow_bucket_policy("mlflow-artifacts", "mlflow/")
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws:s3:::mlflow-artifacts", "arn:aws:s3:::mlflow-artifacts/mlflow/*"}
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert all(a.startswith("s3:") and "*" not in a for a in actions)
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:AbortMultipartUpload"} <= actions
    assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])


def test_prefix_scoped_policy_limits_listing_and_objects_to_the_prefix() -> None:
    statements = {s["Sid"]: s for s in mlflow_bucket_policy("b", prefix="mlflow/")["Statement"]}
    assert statements["ListArtifacts"]["Condition"] == {"StringLike": {"s3:prefix": ["mlflow/*"]}}
    assert statements["ReadWriteArtifacts"]["Resource"] == ["arn:aws:s3:::b/mlflow/*"]
    # s3:prefix applies to ListBucket only: the bucket-level actions carry no condition.
    assert "Condition" not in statements["LocateBucketAndUploads"]


def test_outputs_for_the_server_and_other_stacks(dev: ProgramRun) -> None:
    outputs = dev.component_outputs[component(dev, "ArtifactBucket").urn]
    endpoint, credentials = "http://mlflow-artifacts.mlflow.svc.cluster.local:9000", "mlflow-artifacts-mlflow-credentials"
    assert outputs == {
        "bucketName": "mlflow-artifacts",
        "prefix": "mlflow/",
        "artifactsDestination": "s3://mlflow-artifacts/mlflow/",
        "endpointUrl": endpoint,
        "credentialsSecretName": credentials,
        # What MlflowServer takes (artifact_store_env, service_account_annotations), for consumers in any language.
        "serverEnv": [{"name": "MLFLOW_S3_ENDPOINT_URL", "value": endpoint},
                      {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
                      *({"name": key, "valueFrom": {"secretKeyRef": {"key": key, "name": credentials}}}
                        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))],
        "serviceAccountAnnotations": {},
        # What MlflowPostgres' backup takes, for a program in another language to pass on.
        "backupCredentialsSecretName": "mlflow-artifacts-backup-credentials",
    }


def test_args_refuse_invalid_values() -> None:
    with pytest.raises(ValueError, match="not a valid S3 bucket name"):
        ArtifactBucketArgs(namespace="mlflow", bucket_name="x")
    with pytest.raises(ValueError, match="backend s3 needs irsa and region"):
        ArtifactBucketArgs(namespace="mlflow", backend="s3")
    with pytest.raises(ValueError, match="prefix '/x' must end with '/'"):
        ArtifactBucketArgs(namespace="mlflow", prefix="/x")


class TestSetupScript:
    """The Job's script, run by /bin/sh against a fake `mc` that keeps state."""

    def run_script(self, state: Path, ready_after: int = 1) -> subprocess.CompletedProcess[str]:
        bin_dir = state / "bin"
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / "mc").symlink_to(HERE / "fake_mc.sh") if not (bin_dir / "mc").exists() else None
        (bin_dir / "sleep").write_text("#!/bin/sh\n") if not (bin_dir / "sleep").exists() else None
        (bin_dir / "sleep").chmod(0o755)
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_MC_STATE": str(state),
            "FAKE_MC_READY_AFTER": str(ready_after),
            "BUCKET": "mlflow-artifacts",
            "POLICY_NAME": "mlflow-artifacts-readwrite",
            "POLICY_JSON": mlflow_bucket_policy_json("mlflow-artifacts"),
            "MLFLOW_ACCESS_KEY": "MLFLOWKEY",
            "MLFLOW_SECRET_KEY": "mlflow-secret",
            "BACKUP_POLICY_NAME": "mlflow-artifacts-backups-writeonly",
            "BACKUP_POLICY_JSON": json.dumps(backup_bucket_policy("mlflow-artifacts", "backups/")),
            "BACKUP_ACCESS_KEY": "BACKUPKEY",
            "BACKUP_SECRET_KEY": "backup-secret",
            "LIFECYCLE_JSON": json.dumps(minio_lifecycle(30, "backups/", 30)),
        }
        return subprocess.run(["/bin/sh", "-c", SETUP_SCRIPT], env=env, capture_output=True, text=True, timeout=60)

    def test_waits_for_minio_then_creates_a_private_versioned_bucket_and_scoped_user(self, tmp_path: Path) -> None:
        result = self.run_script(tmp_path, ready_after=3)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "ready_attempts").read_text().strip() == "3"
        assert (tmp_path / "versioning").exists()
        assert json.loads((tmp_path / "policy-mlflow-artifacts-readwrite.json").read_text()) == mlflow_bucket_policy(
            "mlflow-artifacts")
        assert (tmp_path / "users").read_text().split() == ["MLFLOWKEY", "BACKUPKEY"]
        assert (tmp_path / "attached-MLFLOWKEY").read_text().strip() == "mlflow-artifacts-readwrite"
        assert (tmp_path / "attached-BACKUPKEY").read_text().strip() == "mlflow-artifacts-backups-writeonly"
        assert json.loads((tmp_path / "lifecycle.json").read_text()) == minio_lifecycle(30, "backups/", 30)
        calls = (tmp_path / "calls").read_text().splitlines()
        assert "anonymous set none root/mlflow-artifacts" in calls
        assert calls.index("mb --ignore-existing root/mlflow-artifacts") < calls.index(
            "admin policy attach root mlflow-artifacts-readwrite --user MLFLOWKEY"
        )
        assert "mlflow-secret" not in result.stdout + result.stderr and "backup-secret" not in result.stdout
        # No key on mc's command line (the fake logs every call's arguments), yet each user has its own.
        assert "mlflow-secret" not in "\n".join(calls) and "backup-secret" not in "\n".join(calls)
        assert (tmp_path / "secret-MLFLOWKEY").read_text().strip() == "mlflow-secret"
        assert (tmp_path / "secret-BACKUPKEY").read_text().strip() == "backup-secret"

    def test_second_run_is_a_no_op_that_succeeds(self, tmp_path: Path) -> None:
        assert self.run_script(tmp_path).returncode == 0
        second = self.run_script(tmp_path)
        assert second.returncode == 0, second.stderr

    def test_gives_up_when_minio_never_becomes_ready(self, tmp_path: Path) -> None:
        result = self.run_script(tmp_path, ready_after=1000)
        assert result.returncode == 1
        assert "MinIO did not become ready" in result.stderr
        assert (tmp_path / "ready_attempts").read_text().strip() == "90"
