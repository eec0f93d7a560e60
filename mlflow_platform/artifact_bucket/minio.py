"""The dev artifact store: MinIO in the cluster, a versioned private bucket and a user scoped to it."""

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlflow_platform.artifact_bucket.args import ArtifactBucketArgs
from mlflow_platform.artifact_bucket.iam_policies import backup_bucket_policy, minio_lifecycle, mlflow_bucket_policy_json
from mlflow_platform.artifact_bucket.store import ArtifactStore, BackupTarget
from mlflow_platform.kube.env import secret_env
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context
from mlflow_platform.kube.hardening import data_volume as data_volume_claim
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.kube.scanner import SECRETS_AS_ENV, scanner_skips
from mlflow_platform.kube.service import cluster_ip_service
from mlflow_platform.kube.timeouts import MINIO_CLIENT_IMAGE_MEGABYTES, MINIO_IMAGE_MEGABYTES, await_timeout, probe_budget_seconds
from mlflow_platform.outputs import applied

MINIO_API_PORT = 9000
MINIO_CONSOLE_PORT = 9001
# MinIO and mc run as any uid; a high one cannot collide with a node's users. fsGroup regroups a volume an
# older release wrote as uid 1000 on the first start (fsGroupChangePolicy OnRootMismatch), so it stays writable.
MINIO_UID = 10001
# Why MinIO and its setup Job keep credentials in environment variables (checkov CKV_K8S_35).
MINIO_READS_ENV = ("mc reads credentials only from MC_HOST_<alias> or a config file it writes; MinIO takes the "
                   "same root Secret as variables")
SETUP_SCRIPT = (Path(__file__).parent / "minio_setup.sh").read_text()
SETUP_WAIT_SECONDS = 90 * 2  # minio_setup.sh: 90 attempts of `mc ready`, 2 s apart


def minio_store(parent: pulumi.Resource, name: str, args: ArtifactBucketArgs) -> ArtifactStore:
    child = pulumi.ResourceOptions(parent=parent)
    # A user name or access-key ID is half a credential: RandomString's result is plain unless marked secret.
    secret_result = pulumi.ResourceOptions(parent=parent, additional_secret_outputs=["result"])
    labels = standard_labels("minio", name, "artifact-store")
    selector = selector_labels("minio", name, "artifact-store")
    metadata = {"namespace": args.namespace, "labels": labels}

    root_user = random.RandomString(f"{name}-root-user", length=16, special=False, upper=False, opts=secret_result)
    root_password = random.RandomPassword(f"{name}-root-password", length=40, special=False, opts=child)
    root_secret = k8s.core.v1.Secret(
        f"{name}-root",
        metadata={**metadata, "name": f"{name}-root"},
        type="Opaque",
        string_data={"user": root_user.result, "password": root_password.result},
        opts=child,
    )
    access_key = random.RandomString(f"{name}-mlflow-access-key", length=20, special=False, lower=False, opts=secret_result)
    secret_key = random.RandomPassword(f"{name}-mlflow-secret-key", length=40, special=False, opts=child)
    mlflow_secret = k8s.core.v1.Secret(
        f"{name}-mlflow-credentials",
        metadata={**metadata, "name": f"{name}-mlflow-credentials"},
        type="Opaque",
        string_data={
            "AWS_ACCESS_KEY_ID": access_key.result,
            "AWS_SECRET_ACCESS_KEY": secret_key.result,
        },
        opts=child,
    )

    backup_env: list[dict[str, Any]] = []
    backup_secret: k8s.core.v1.Secret | None = None
    if args.backup_prefix:
        backup_key = random.RandomString(f"{name}-backup-access-key", length=20, special=False, lower=False, opts=secret_result)
        backup_password = random.RandomPassword(f"{name}-backup-secret-key", length=40, special=False, opts=child)
        backup_secret = k8s.core.v1.Secret(
            f"{name}-backup-credentials",
            metadata={**metadata, "name": f"{name}-backup-credentials"},
            type="Opaque",
            string_data={"AWS_ACCESS_KEY_ID": backup_key.result,
                         "AWS_SECRET_ACCESS_KEY": backup_password.result},
            opts=child,
        )
        backup_env = [
            {"name": "BACKUP_POLICY_NAME", "value": pulumi.Output.concat(args.bucket_name, "-backups-writeonly")},
            {"name": "BACKUP_POLICY_JSON",
             "value": applied(lambda bucket, prefix: json.dumps(backup_bucket_policy(bucket, prefix)),
                                      args.bucket_name, args.backup_prefix)},
            secret_env("BACKUP_ACCESS_KEY", backup_secret.metadata.name, "AWS_ACCESS_KEY_ID"),
            secret_env("BACKUP_SECRET_KEY", backup_secret.metadata.name, "AWS_SECRET_ACCESS_KEY"),
        ]
    lifecycle = minio_lifecycle(args.noncurrent_version_days, args.backup_prefix, args.backup_retention_days)

    data_volume = data_volume_claim(f"{name}-data", metadata, args.storage_size, args.storage_class, parent,
                                    retain=args.data_protection)

    root_env = [
        secret_env("MINIO_ROOT_USER", root_secret.metadata.name, "user"),
        secret_env("MINIO_ROOT_PASSWORD", root_secret.metadata.name, "password"),
    ]

    health_probe = {"httpGet": {"path": "/minio/health/live", "port": "api"}, "periodSeconds": 10}
    probes = {
        "startupProbe": {**health_probe, "periodSeconds": 2, "failureThreshold": 60},
        "livenessProbe": health_probe,
        "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": "api"}, "periodSeconds": 5},
    }
    deployment = k8s.apps.v1.Deployment(
        name,
        metadata={**metadata, "name": name,
                  "annotations": scanner_skips({SECRETS_AS_ENV: MINIO_READS_ENV}, (args.minio_image,))},
        spec={
            "replicas": 1,
            # One writer on a ReadWriteOnce volume: stop the old pod before starting the new.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": args.pods.metadata(labels),
                "spec": {
                    **args.pods.spec(),
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(MINIO_UID),
                    "containers": [
                        {
                            "name": "minio",
                            **image_fields(args.minio_image),
                            "args": [
                                "server", "/data",
                                "--address", f":{MINIO_API_PORT}",
                                "--console-address", f":{MINIO_CONSOLE_PORT}",
                                "--certs-dir", "/tmp/certs",
                            ],
                            "env": root_env,
                            "ports": [
                                {"name": "api", "containerPort": MINIO_API_PORT},
                                {"name": "console", "containerPort": MINIO_CONSOLE_PORT},
                            ],
                            "resources": args.sizes.of("minio"),
                            "securityContext": container_security_context(),
                            **probes,
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/data"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": data_volume.metadata.name}},
                        empty_dir("tmp", "64Mi"),
                    ],
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, custom_timeouts=await_timeout(
            MINIO_IMAGE_MEGABYTES, probe_budget_seconds(probes))),
    )
    service = cluster_ip_service(name, metadata, selector, {"api": MINIO_API_PORT, "console": MINIO_CONSOLE_PORT},
                                 parent)
    policy_name = pulumi.Output.concat(args.bucket_name, "-readwrite")
    job_labels = standard_labels("minio", name, "bucket-setup")
    k8s.batch.v1.Job(
        f"{name}-setup",
        # No fixed name: a changed script or image replaces the Job, so the setup runs again.
        metadata={"namespace": args.namespace, "labels": job_labels,
                  "annotations": scanner_skips({SECRETS_AS_ENV: MINIO_READS_ENV}, (args.minio_client_image,))},
        spec={
            "backoffLimit": 6,
            "template": {
                "metadata": args.pods.metadata(job_labels),
                "spec": {
                    **args.pods.spec(),
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(MINIO_UID),
                    "containers": [
                        {
                            "name": "setup",
                            **image_fields(args.minio_client_image),
                            "command": ["/bin/sh", "-c", SETUP_SCRIPT],
                            "env": [
                                *root_env,
                                {
                                    "name": "MC_HOST_root",
                                    "value": pulumi.Output.format(
                                        "http://$(MINIO_ROOT_USER):$(MINIO_ROOT_PASSWORD)@{0}.{1}.svc.cluster.local:{2}",
                                        service.metadata.name, args.namespace, MINIO_API_PORT,
                                    ),
                                },
                                {"name": "MC_CONFIG_DIR", "value": "/tmp/.mc"},
                                {"name": "BUCKET", "value": args.bucket_name},
                                {"name": "POLICY_NAME", "value": policy_name},
                                {"name": "POLICY_JSON",
                                 "value": applied(mlflow_bucket_policy_json, args.bucket_name, args.prefix)},
                                secret_env("MLFLOW_ACCESS_KEY", mlflow_secret.metadata.name, "AWS_ACCESS_KEY_ID"),
                                secret_env("MLFLOW_SECRET_KEY", mlflow_secret.metadata.name, "AWS_SECRET_ACCESS_KEY"),
                                *backup_env,
                                {"name": "LIFECYCLE_JSON", "value": json.dumps(lifecycle)},
                            ],
                            "resources": args.sizes.of("minioSetup"),
                            "securityContext": container_security_context(),
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [empty_dir("tmp", "64Mi")],
                },
            },
        },
        # The script waits up to 3 minutes for MinIO (minio_setup.sh), then configures it in seconds.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[deployment, service],
                                    custom_timeouts=await_timeout(MINIO_CLIENT_IMAGE_MEGABYTES, SETUP_WAIT_SECONDS + 60)),
    )


    endpoint_url = pulumi.Output.format(
        "http://{0}.{1}.svc.cluster.local:{2}", service.metadata.name, args.namespace, MINIO_API_PORT
    )
    return ArtifactStore(
        bucket_name=pulumi.Output.from_input(args.bucket_name),
        destination=pulumi.Output.concat("s3://", args.bucket_name, "/", args.prefix),
        server_env=[
            {"name": "MLFLOW_S3_ENDPOINT_URL", "value": endpoint_url},
            {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
            *(secret_env(key, mlflow_secret.metadata.name, key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
        ],
        endpoint_url=endpoint_url,
        credentials_secret_name=mlflow_secret.metadata.name,
        pod_selector=selector,
        setup_selector=selector_labels("minio", name, "bucket-setup"),
        port=MINIO_API_PORT,
        backup_target=BackupTarget(bucket=args.bucket_name, prefix=args.backup_prefix, endpoint_url=endpoint_url,
                                   credentials_secret_name=backup_secret.metadata.name)
        if args.backup_prefix and backup_secret else None,
    )
