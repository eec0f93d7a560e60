"""What ArtifactBucket takes: the backend and everything it needs, validated when built."""

from dataclasses import dataclass, field
from typing import Literal

import pulumi

from components.kube.pods import PodSettings
from components.kube.resources import WorkloadSizes
from components.validation import bucket_name_problem, dns_label_problem, image_problem, quantity_problem, refuse
from components.versions import MINIO_CLIENT_IMAGE, MINIO_IMAGE

ArtifactBackend = Literal["minio", "s3"]
ARTIFACT_BACKENDS: tuple[str, ...] = ("minio", "s3")


@dataclass(frozen=True)
class IrsaTrust:
    """The EKS cluster's OIDC provider, which IAM trusts for the server's ServiceAccount tokens."""

    oidc_provider_arn: pulumi.Input[str]
    issuer_url: pulumi.Input[str]


@dataclass(frozen=True)
class ArtifactBucketArgs:
    namespace: str
    """Namespace of MinIO (minio) and of the server's ServiceAccount (s3, in the IRSA trust)."""
    backend: ArtifactBackend = "minio"
    bucket_name: str = "mlflow-artifacts"
    prefix: str = "mlflow/"
    """Key prefix of MLflow's artifacts; its credential reaches nothing outside it."""
    data_protection: bool = True
    """Keep data on destroy: MinIO's volume retained; the S3 bucket protected, never force-destroyed."""
    service_account: str = "mlflow"
    """The MLflow server's ServiceAccount (s3: the only identity the role trusts)."""
    # minio
    minio_image: str = MINIO_IMAGE
    minio_client_image: str = MINIO_CLIENT_IMAGE
    storage_size: str = "10Gi"
    storage_class: str | None = None
    backup_prefix: str | None = None
    """minio: also create a write-only user for database backups under this prefix."""
    backup_retention_days: int = 30
    # s3
    irsa: IrsaTrust | None = None
    also_trusted_service_accounts: tuple[str, ...] = ()
    """Further "namespace:serviceaccount" pairs the IRSA role trusts (e.g. training jobs)."""
    region: str | None = None
    kms_key_arn: str | None = None
    """A customer-managed KMS key; None uses the AWS-managed S3 key (SSE-KMS with a bucket key either way)."""
    noncurrent_version_days: int = 30
    tags: dict[str, str] = field(default_factory=dict)
    sizes: WorkloadSizes = field(default_factory=WorkloadSizes)
    """The size of each small workload here (components/kube/resources.py DEFAULT_RESOURCES)."""
    pods: PodSettings = field(default_factory=PodSettings)
    """Scheduling, pull secrets and metadata for every pod here."""

    def __post_init__(self) -> None:
        refuse(
            "ArtifactBucketArgs",
            dns_label_problem(self.namespace),
            dns_label_problem(self.service_account),
            bucket_name_problem(self.bucket_name),
            image_problem(self.minio_image),
            image_problem(self.minio_client_image),
            None if self.backend in ARTIFACT_BACKENDS else f"backend {self.backend!r} is not one of {ARTIFACT_BACKENDS}",
            None if self.prefix == "" or (self.prefix.endswith("/") and not self.prefix.startswith("/"))
            else f"prefix {self.prefix!r} must end with '/' and not start with it",
            None if self.backend != "s3" or (self.irsa and self.region) else "backend s3 needs irsa and region",
            None if self.noncurrent_version_days >= 1 else "noncurrent_version_days must be at least 1",
            None if self.backup_retention_days >= 1 else "backup_retention_days must be at least 1",
            None if not self.backup_prefix or self.backend == "minio" else "backup_prefix needs backend minio",
            quantity_problem(self.storage_size),
        )
