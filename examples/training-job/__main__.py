"""A training Job wired to mlflow-platform through its stack outputs (outputs contract v1).

Reads: trackingUri, namespace, and irsaRoleArn when the platform runs on S3 (prod). For the role to
trust this job, add "<namespace>:trainer" to the platform's irsaTrustedServiceAccounts.
"""

import pulumi
import pulumi_kubernetes as k8s

config = pulumi.Config()
platform = pulumi.StackReference(config.require("platformStack"))
tracking_uri = platform.require_output("trackingUri")
namespace = platform.require_output("namespace")
role_arn = platform.get_output("irsaRoleArn")  # absent on dev (MinIO)

service_account = k8s.core.v1.ServiceAccount(
    "trainer",
    metadata={
        "name": "trainer",
        "namespace": namespace,
        "annotations": role_arn.apply(lambda arn: {"eks.amazonaws.com/role-arn": arn} if arn else {}),
    },
)
TRAIN = """
import mlflow
with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("rmse", 0.27)
"""
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
                    "env": [
                        {"name": "MLFLOW_TRACKING_URI", "value": tracking_uri},
                        {"name": "MLFLOW_EXPERIMENT_NAME", "value": config.require("experimentName")},
                        {"name": "HOME", "value": "/tmp"},
                    ],
                    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
            },
        },
    },
)
pulumi.export("jobNamespace", namespace)
pulumi.export("serviceAccountName", service_account.metadata.name)
