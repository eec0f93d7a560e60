"""A training Job wired to mlflow-platform through its stack outputs (outputs contract v1).

Reads: trackingUri, namespace, and artifactReaderRoleArn when the platform runs on S3 (prod): a read-only role
whose trust lists the platform's irsaTrustedServiceAccounts, so add "<namespace>:trainer" there. The job logs
through MLflow's artifact proxy and reads artifacts and models straight from S3.

Where the platform runs MLflow's auth app, the job signs in as its ServiceAccount: a projected token
with the audience the platform accepts (authTokenAudience), read again as the kubelet rotates it.
No password exists anywhere; grant system:serviceaccount:<namespace>:trainer its permissions in MLflow.
"""

import pulumi
import pulumi_kubernetes as k8s

config = pulumi.Config()
platform = pulumi.StackReference(config.require("platformStack"))
tracking_uri = platform.require_output("trackingUri")
namespace = platform.require_output("namespace")
role_arn = platform.get_output("artifactReaderRoleArn")  # absent on dev (MinIO) and without trusted accounts
audience = platform.get_output("authTokenAudience")  # absent without the auth app
TOKEN_DIR = "/var/run/secrets/mlflow"

service_account = k8s.core.v1.ServiceAccount(
    "trainer",
    metadata={
        "name": "trainer",
        "namespace": namespace,
        "annotations": role_arn.apply(lambda arn: {"eks.amazonaws.com/role-arn": arn} if arn else {}),
    },
)
# MLflow reads MLFLOW_TRACKING_TOKEN on every request: keep it equal to the rotating token file.
TRAIN = """
import os, threading, time
import mlflow

def use_token(path):
    os.environ["MLFLOW_TRACKING_TOKEN"] = open(path).read().strip()

path = os.environ.get("MLFLOW_TOKEN_FILE", "")
if os.path.exists(path):
    use_token(path)
    threading.Thread(target=lambda: [time.sleep(60) or use_token(path) for _ in iter(int, 1)], daemon=True).start()
with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("rmse", 0.27)
"""


def token_volumes(audience: str | None) -> dict[str, list[dict[str, object]]]:
    """A projected ServiceAccount token for MLflow (valid 1 h, rotated by the kubelet at 80 %)."""
    if not audience:
        return {"volumes": [], "mounts": [], "env": []}
    return {
        "volumes": [{"name": "mlflow-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": audience, "expirationSeconds": 3600, "path": "token"}}]}}],
        "mounts": [{"name": "mlflow-token", "mountPath": TOKEN_DIR, "readOnly": True}],
        "env": [{"name": "MLFLOW_TOKEN_FILE", "value": f"{TOKEN_DIR}/token"}],
    }


token = audience.apply(token_volumes)
experiment = config.require("experimentName")
labels = {"app.kubernetes.io/name": "training-example", "mlflow-platform/client": "true"}
job = k8s.batch.v1.Job(
    "train",
    metadata={"namespace": namespace, "labels": labels},
    spec={
        "backoffLimit": 2,
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": service_account.metadata.name,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "train",
                    "image": config.require("image"),
                    "command": ["python", "-c", TRAIN],
                    "env": pulumi.Output.all(tracking_uri, token).apply(lambda values: [
                        {"name": "MLFLOW_TRACKING_URI", "value": values[0]},
                        {"name": "MLFLOW_EXPERIMENT_NAME", "value": experiment},
                        {"name": "HOME", "value": "/tmp"},
                        *values[1]["env"],
                    ]),
                    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": token.apply(lambda t: [{"name": "tmp", "mountPath": "/tmp"}, *t["mounts"]]),
                }],
                "volumes": token.apply(lambda t: [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, *t["volumes"]]),
            },
        },
    },
)
pulumi.export("jobNamespace", namespace)
pulumi.export("serviceAccountName", service_account.metadata.name)
