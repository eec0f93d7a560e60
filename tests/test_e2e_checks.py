"""The e2e workflow's cluster check (e2e/check_cluster.py) on what `kubectl get pods,jobs -o json` prints."""

from typing import Any

from e2e.check_cluster import problems


def pod(name: str, phase: str, ready: bool) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}}


def job(name: str, complete: bool) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if complete else [{"type": "Failed", "status": "True"}]
    return {"kind": "Job", "metadata": {"name": name}, "status": {"conditions": conditions}}


def test_ready_pods_and_complete_jobs_pass() -> None:
    listing = {"items": [pod("mlflow-1", "Running", True), pod("mlflow-migrate-x", "Succeeded", False),
                         job("mlflow-migrate-x", True)]}
    assert problems(listing) == []


def test_a_pod_that_is_not_ready_and_a_failed_job_are_reported() -> None:
    listing = {"items": [pod("mlflow-1", "Running", False), pod("minio-1", "Pending", False), job("setup", False)]}
    assert problems(listing) == ["Pod/mlflow-1 is Running and not Ready", "Pod/minio-1 is Pending and not Ready",
                                 "Job/setup is not Complete"]


def test_an_empty_namespace_is_not_a_success() -> None:
    assert problems({"items": []}) == ["no pods at all"]
