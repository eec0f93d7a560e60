"""MLflow's artifact store: MinIO in the cluster (dev), S3 with an IRSA role (EKS), or an S3-compatible store the team
already runs, with static keys in a Secret of theirs."""


from typing import Any, overload

import pulumi

from mlflow_platform.artifact_bucket.args import ARTIFACT_BACKENDS, ArtifactBackend, ArtifactBucketArgs, IrsaTrust
from mlflow_platform.artifact_bucket.minio import minio_store
from mlflow_platform.artifact_bucket.s3 import s3_store
from mlflow_platform.artifact_bucket.s3_compatible import s3_compatible_store
from mlflow_platform.conversion import args_of
from mlflow_platform.inputs import ArtifactBucketInputs
from mlflow_platform.outputs import registered_outputs

__all__ = ['ARTIFACT_BACKENDS', 'ArtifactBackend', 'ArtifactBucket', 'ArtifactBucketArgs', 'IrsaTrust']


class ArtifactBucket(pulumi.ComponentResource):
    """A private, versioned bucket and a credential (MinIO user or IRSA role) that reaches only MLflow's prefix."""

    bucket_name: pulumi.Output[str]
    """The bucket."""
    prefix: str
    """MLflow's key prefix in the bucket."""
    artifacts_destination: pulumi.Output[str]
    """Where MLflow's artifact proxy writes: s3://<bucket>/<prefix> (MlflowServer's artifacts_destination)."""
    server_env: list[dict[str, Any]]
    """The environment the MLflow server needs to reach the store (MlflowServer's artifact_store_env)."""
    service_account_annotations: dict[str, pulumi.Input[str]]
    """For the server's ServiceAccount: the IRSA role (s3); empty otherwise."""
    bucket_arn: pulumi.Output[str] | None
    """s3: the bucket's ARN."""
    irsa_role_arn: pulumi.Output[str] | None
    """s3: the role the server's ServiceAccount assumes."""
    artifact_reader_role_arn: pulumi.Output[str] | None
    """s3: the read-only role of the further trusted ServiceAccounts, when there are any."""
    bucket_policy: pulumi.Output[str] | None
    """s3-compatible: the least-privilege policy to attach to your store's user (IAM JSON)."""
    endpoint_url: pulumi.Output[str] | None
    """minio, s3-compatible: the store's S3 API."""
    credentials_secret_name: pulumi.Output[str] | None
    """minio, s3-compatible: the Secret with the server's keys."""
    backup_credentials_secret_name: pulumi.Output[str] | None
    """minio with backup_prefix: the Secret with the backup user's write-only keys (MlflowPostgres' backup
    credentials_secret_name, with endpoint_url, bucket_name and backup_prefix)."""

    @overload
    def __init__(self, name: str, args: ArtifactBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    @overload
    def __init__(self, name: str, args: ArtifactBucketInputs, opts: pulumi.ResourceOptions | None = None) -> None: ...

    # The annotation is ArtifactBucketInputs, which the schema is inferred from; Python programs may pass either form.
    def __init__(self, name: str, args: ArtifactBucketInputs, opts: pulumi.ResourceOptions | None = None) -> None:  # type: ignore[misc]
        config = args_of(ArtifactBucketArgs, args)
        super().__init__("mlflow-platform:index:ArtifactBucket", name, None, opts)
        self._declare(name, config)

    def _declare(self, name: str, args: ArtifactBucketArgs) -> None:
        stores = {"s3": s3_store, "s3-compatible": s3_compatible_store, "minio": minio_store}
        store = stores[args.backend](self, name, args)
        self.bucket_name = store.bucket_name
        self.prefix = args.prefix
        self.artifacts_destination = store.destination
        self.server_env = store.server_env
        self.service_account_annotations = store.service_account_annotations
        self.bucket_arn, self.irsa_role_arn = store.bucket_arn, store.irsa_role_arn
        self.artifact_reader_role_arn, self.bucket_policy = store.artifact_reader_role_arn, store.bucket_policy
        self.endpoint_url, self.credentials_secret_name = store.endpoint_url, store.credentials_secret_name
        # Python-only composition: the store's pods and ports (NetworkPolicies), the backup target (MlflowPostgres).
        self.store = store
        self.backup_target = store.backup_target
        self.backup_credentials_secret_name = store.backup_target.credentials_secret_name if store.backup_target else None
        self.register_outputs(registered_outputs(self))
