"""checkov on every Kubernetes object each stack declares: no failed check, and every suppression is on its object
with a one-line reason docs/security.md lists.

What a fix was right for is fixed in the program (pull policy by pin, high UIDs, secrets as files where the image
reads files, a liveness probe on every container); what stays is annotated `checkov.io/skip<N>: <check>=<reason>`
(mlflow_platform/kube/scanner.py). Each stack is scanned in its own directory, so graph checks (a NetworkPolicy for every
pod) see that stack's policies only.
"""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_schemas import as_manifest

from conftest import DEPLOYMENT, STATEFULSET, container
from harness import ROOT, ProgramRun, run_program
from mlflow_platform.kube.scanner import IMAGE_DIGEST
from runtime.fixtures import skip_or_fail
from runtime.image_env import cached_env_bin

# checkov runs from its own virtualenv (`make checkov-env`): it pins boto3 and other packages to versions the
# program's environment cannot take (requirements-checkov.txt).
CHECKOV_ENV = "MLFLOW_PLATFORM_CHECKOV_ENV"


def scan(run: ProgramRun, directory: Path, edit: Any = None) -> dict[str, Any]:
    """checkov's JSON report on the run's objects, each written as kubectl would send it."""
    bin_dir = cached_env_bin(CHECKOV_ENV, "requirements-checkov.lock", "checkov")
    if bin_dir is None:
        skip_or_fail(f"checkov is missing: run `make checkov-env` and set {CHECKOV_ENV} to it (make test does both)")
    checkov = bin_dir / "checkov"
    directory.mkdir(parents=True, exist_ok=True)
    for index, obj in enumerate(run.kubernetes_objects()):
        manifest = as_manifest(obj)
        if edit:
            edit(manifest)
        (directory / f"{index:03d}-{manifest['kind']}.yaml").write_text(yaml.safe_dump(manifest))
    result = subprocess.run([str(checkov), "--directory", str(directory), "--framework", "kubernetes", "--output",
                             "json", "--skip-download"], capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: some check failed
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def failures(report: dict[str, Any]) -> list[str]:
    return sorted(f"{f['check_id']} {f['resource']}" for f in report["results"]["failed_checks"])


def readme_suppressions() -> set[tuple[str, str]]:
    """docs/security.md's table of suppressions: (check, reason) per row."""
    section = (ROOT / "docs" / "security.md").read_text().split("### Scanner findings kept on purpose")[1].split("\n## ")[0]
    return set(re.findall(r"^\| `(CKV_K8S_\d+)`[^|]* \| [^|]+ \| (.+?) \|$", section, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def report(any_stack: ProgramRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One scan per stack, read by the tests below."""
    return scan(any_stack, tmp_path_factory.mktemp("checkov"))


def test_checkov_reports_no_unsuppressed_failure(report: dict[str, Any]) -> None:
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] >= 200  # it really checked the stack's workloads
    assert failures(report) == []


def test_every_suppression_has_a_reason_the_readme_lists(report: dict[str, Any]) -> None:
    skipped = report["results"].get("skipped_checks", [])
    assert skipped  # the tag-pinned images at least
    reasons = {(s["check_id"], s["check_result"]["suppress_comment"]) for s in skipped}
    assert reasons <= readme_suppressions()


def test_checkov_would_catch_what_the_annotations_suppress(dev: ProgramRun, tmp_path: Path) -> None:
    """Guard the guard: without the server's annotations, its env-held secrets and tag-pinned image fail."""
    def strip_server_annotations(manifest: dict[str, Any]) -> None:
        if manifest["kind"] == "Deployment" and manifest["metadata"]["name"] == "mlflow":
            manifest["metadata"].pop("annotations")

    assert dev.one(DEPLOYMENT, "mlflow")  # the object the edit targets exists
    assert failures(scan(dev, tmp_path, strip_server_annotations)) == [
        "CKV_K8S_35 Deployment.mlflow.mlflow", "CKV_K8S_43 Deployment.mlflow.mlflow"]


def test_an_image_pinned_by_digest_is_not_pulled_again_and_needs_no_suppression() -> None:
    """A tag can be moved, so each start resolves it again (Always); a digest cannot (IfNotPresent)."""
    digest = "docker.io/library/postgres:17.7@sha256:" + "a" * 64
    run = run_program("dev", {"postgresImage": digest})
    postgres = run.one(STATEFULSET, "mlflow-postgres")
    assert container(postgres, "postgresql")["imagePullPolicy"] == "IfNotPresent"
    assert not any(v.startswith(IMAGE_DIGEST) for v in postgres.plain_inputs["metadata"]["annotations"].values())
    tagged = run.one(DEPLOYMENT, "mlflow")
    assert container(tagged, "mlflow")["imagePullPolicy"] == "Always"
    assert any(v.startswith(IMAGE_DIGEST) for v in tagged.plain_inputs["metadata"]["annotations"].values())
