"""MLflow's artifact store: MinIO in the cluster (dev), S3 with an IRSA role (EKS), or an S3-compatible store the team
already runs, with static keys in a Secret of theirs."""


import pulumi

from mlflow_platform.artifact_bucket.args import ARTIFACT_BACKENDS, ArtifactBackend, ArtifactBucketArgs, IrsaTrust
from mlflow_platform.artifact_bucket.minio import minio_store
from mlflow_platform.artifact_bucket.s3 import s3_store
from mlflow_platform.artifact_bucket.s3_compatible import s3_compatible_store

__all__ = ['ARTIFACT_BACKENDS', 'ArtifactBackend', 'ArtifactBucket', 'ArtifactBucketArgs', 'IrsaTrust']


class ArtifactBucket(pulumi.ComponentResource):
    """A private, versioned bucket and a credential (MinIO user or IRSA role) that reaches only MLflow's prefix."""

    bucket_name: pulumi.Output[str]
    artifacts_destination: pulumi.Output[str]
    server_env: list[dict[str, object]]
    service_account_annotations: dict[str, pulumi.Input[str]]

    def __init__(self, name: str, args: ArtifactBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlflow-platform:index:ArtifactBucket", name, None, opts)
        stores = {"s3": s3_store, "s3-compatible": s3_compatible_store, "minio": minio_store}
        store = stores[args.backend](self, name, args)
        self.bucket_name = store.bucket_name
        self.artifacts_destination = store.destination
        self.server_env = store.server_env
        self.service_account_annotations = store.service_account_annotations
        self.outputs = store.extra_outputs
        self.store = store
        self.backup_target = store.backup_target
        self.register_outputs({
            "bucketName": self.bucket_name,
            "artifactsDestination": self.artifacts_destination,
            **store.extra_outputs,
        })
