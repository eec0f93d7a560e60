"""Who may delete artifacts: `s3:DeleteObject` is in the MLflow server's bucket policy and no other, and only the
server's credential carries it, which the server's pods and the gc CronJob use (docs/operations.md, "Purging deleted
runs"). The backup's writer, the readers' role and the migration have no delete.

The server keeps it because MLflow's server deletes objects itself (3.17.2):
- `DELETE /api/2.0/mlflow-artifacts/artifacts` (mlflow/server/handlers.py `_delete_artifact_mlflow_artifacts`), which
  a client's `mlflow-artifacts:` repository calls, e.g. `mlflow gc` run against the server;
- a deleted trace's archived payload (mlflow/store/tracking/sqlalchemy_store.py `_delete_archived_trace_payloads`).
Taking it away would change how MLflow answers those, which only a documented choice may do.
"""

import json
from typing import Any

from conftest import CRONJOB, DEPLOYMENT, JOB, PROD_SECRETS, STATEFULSET
from harness import ProgramRun, run_program

GC = {"gcSchedule": "0 4 * * *", "serverJobExecution": True, "postgresMaxConnections": 2000}
WORKLOADS = (DEPLOYMENT, STATEFULSET, JOB, CRONJOB)


def deletes(policy: dict[str, Any]) -> bool:
    """Whether a statement allows deleting objects (s3:DeleteObject, or a wildcard that covers it)."""
    allowed = [action for statement in policy["Statement"] if statement["Effect"] == "Allow"
               for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])]
    return any(action in ("s3:DeleteObject", "s3:*", "*") or action.startswith("s3:Delete") for action in allowed)


def pods(run: ProgramRun) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for workload in (r for r in run.resources if r.type in WORKLOADS):
        spec = workload.plain_inputs["spec"]
        found[(workload.type, workload.name)] = spec.get("jobTemplate", {}).get("spec", spec)["template"]["spec"]
    return found


def test_prod_only_the_servers_irsa_role_may_delete_and_only_the_server_and_gc_assume_it() -> None:
    run = run_program("prod", {**PROD_SECRETS, **GC, "irsaTrustedServiceAccounts": ["training:trainer"],
                              "allowArtifactReadsAroundPermissions": True})
    policies = {r.name: json.loads(r.plain_inputs["policy"]) for r in run.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert {"mlflow-artifacts-irsa-s3", "mlflow-artifacts-irsa-reader-s3"} <= set(policies)
    assert [name for name, policy in policies.items() if deletes(policy)] == ["mlflow-artifacts-irsa-s3"]
    server_account = "mlflow"  # the role's trust names it alone (test_prod_stack.py)
    users = {key for key, spec in pods(run).items() if spec.get("serviceAccountName") == server_account}
    assert users == {(DEPLOYMENT, "mlflow"), (DEPLOYMENT, "mlflow-jobs"), (CRONJOB, "mlflow-gc")}


def test_dev_only_mlflows_minio_user_may_delete_and_only_the_server_and_gc_hold_its_keys() -> None:
    run = run_program("dev", GC)
    setup = {e["name"]: e for e in run.one(JOB, "mlflow-artifacts-setup").plain_inputs["spec"]["template"]["spec"][
        "containers"][0]["env"]}
    assert deletes(json.loads(setup["POLICY_JSON"]["value"]))
    assert not deletes(json.loads(setup["BACKUP_POLICY_JSON"]["value"]))
    keys = setup["MLFLOW_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"]
    holders = {key for key, spec in pods(run).items()
               for item in [*spec.get("initContainers", []), *spec["containers"]]
               if any(e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == keys
                      and e["name"] == "AWS_SECRET_ACCESS_KEY" for e in item.get("env", []))}
    assert holders == {(DEPLOYMENT, "mlflow"), (DEPLOYMENT, "mlflow-jobs"), (CRONJOB, "mlflow-gc")}
