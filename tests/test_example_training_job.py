"""The outputs contract, from the consumer's side: the example training stack reads this stack's real outputs.

Renaming or dropping an output the contract names breaks these tests.
"""

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from harness import ROOT, ProgramRun, run_program

EXAMPLE = ROOT / "examples" / "training-job"
PLATFORM = "organization/mlflow-platform/dev"
JOB = "kubernetes:batch/v1:Job"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"


def consume(outputs: dict[str, Any]) -> ProgramRun:
    return run_program("dev", stack_references={PLATFORM: outputs}, program_dir=EXAMPLE)


def job_env(run: ProgramRun) -> dict[str, str]:
    container = run.one(JOB).plain_inputs["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def test_dev_outputs_wire_the_job_to_the_tracking_server(dev: ProgramRun) -> None:
    run = consume(dev.stack_outputs)
    assert job_env(run)["MLFLOW_TRACKING_URI"] == dev.stack_outputs["trackingUri"]
    assert job_env(run)["MLFLOW_EXPERIMENT_NAME"] == "training-example"
    assert run.one(JOB).plain_inputs["metadata"]["namespace"] == dev.stack_outputs["namespace"]
    assert run.one(SERVICE_ACCOUNT).plain_inputs["metadata"]["annotations"] == {}


def test_prod_outputs_give_the_job_the_read_only_artifact_role() -> None:
    from conftest import PROD_SECRETS

    platform = run_program("prod", {**PROD_SECRETS, "irsaTrustedServiceAccounts": ["mlflow:trainer"],
                                    "allowArtifactReadsAroundPermissions": True})
    run = consume(platform.stack_outputs)
    assert run.one(SERVICE_ACCOUNT).plain_inputs["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": platform.stack_outputs["artifactReaderRoleArn"]}
    assert platform.stack_outputs["artifactReaderRoleArn"] != platform.stack_outputs["irsaRoleArn"]


def test_with_the_auth_app_the_job_signs_in_with_a_projected_service_account_token(prod: ProgramRun) -> None:
    """No password anywhere: the kubelet mounts a token for the audience the platform accepts, and rotates it."""
    run = consume(prod.stack_outputs)
    pod = run.one(JOB).plain_inputs["spec"]["template"]["spec"]
    (token,) = [v for v in pod["volumes"] if v["name"] == "mlflow-token"]
    source = token["projected"]["sources"][0]["serviceAccountToken"]
    assert source == {"audience": prod.stack_outputs["authTokenAudience"], "expirationSeconds": 3600, "path": "token"}
    assert job_env(run)["MLFLOW_TOKEN_FILE"] == "/var/run/secrets/mlflow/token"
    assert {"name": "mlflow-token", "mountPath": "/var/run/secrets/mlflow", "readOnly": True} in \
        pod["containers"][0]["volumeMounts"]


def test_without_the_auth_app_no_token_is_mounted(dev: ProgramRun) -> None:
    assert "authTokenAudience" not in dev.stack_outputs
    run = consume(dev.stack_outputs)
    assert [v["name"] for v in run.one(JOB).plain_inputs["spec"]["template"]["spec"]["volumes"]] == ["tmp"]


def test_the_job_is_an_allowed_client_of_the_server(dev: ProgramRun) -> None:
    labels = consume(dev.stack_outputs).one(JOB).plain_inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["mlflow-platform/client"] == "true"


def test_the_platform_trusts_the_jobs_service_account_with_a_read_only_role_of_its_own() -> None:
    from conftest import PROD_SECRETS

    run = run_program("prod", {**PROD_SECRETS, "irsaTrustedServiceAccounts": ["mlflow:trainer"],
                               "allowArtifactReadsAroundPermissions": True})
    roles = {r.name: r.plain_inputs["assumeRolePolicy"] for r in run.of_type("aws:iam/role:Role")}
    assert "system:serviceaccount:mlflow:trainer" not in roles["mlflow-artifacts-irsa"]
    assert "system:serviceaccount:mlflow:trainer" in roles["mlflow-artifacts-irsa-reader"]
    assert "system:serviceaccount:mlflow:mlflow" not in roles["mlflow-artifacts-irsa-reader"]
    reader = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "mlflow-artifacts-irsa-reader-s3").plain_inputs["policy"])
    actions = {action for statement in reader["Statement"] for action in statement["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"}


@pytest.mark.parametrize("output", ["trackingUri", "namespace"])
def test_a_renamed_output_breaks_the_consumer(dev: ProgramRun, output: str) -> None:
    # In a subprocess: the failed run leaves Pulumi futures that would print their error at exit.
    outputs = {k: v for k, v in dev.stack_outputs.items() if k != output}
    script = ("import sys, json; from harness import run_program, ROOT\n"
              "run_program('dev', stack_references={sys.argv[1]: json.loads(sys.argv[2])}, "
              "program_dir=ROOT / 'examples' / 'training-job')\n")
    result = subprocess.run([sys.executable, "-c", script, PLATFORM, json.dumps(outputs)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"})
    assert result.returncode != 0
    assert output in result.stderr
