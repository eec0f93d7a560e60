"""What an artifact backend hands to the component: the same shape for MinIO and S3."""

from dataclasses import dataclass, field
from typing import Any

import pulumi


@dataclass(frozen=True)
class BackupTarget:
    """Where the database backup job writes, and the write-only credential it uses."""

    bucket: pulumi.Input[str]
    """The bucket backups go to."""
    prefix: str
    """The key prefix of the backups."""
    endpoint_url: pulumi.Output[str]
    """The object store's S3 API."""
    credentials_secret_name: pulumi.Output[str]
    """A Secret with the write-only user's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""


@dataclass(frozen=True)
class ArtifactStore:
    bucket_name: pulumi.Output[str]
    destination: pulumi.Output[str]
    server_env: list[dict[str, Any]]
    """Environment the MLflow server needs to reach the store (Secret references, never literals)."""
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Annotations for the server's ServiceAccount (the IRSA role on EKS)."""
    # What only some backends have (ArtifactBucket's outputs of the same names).
    bucket_arn: pulumi.Output[str] | None = None
    irsa_role_arn: pulumi.Output[str] | None = None
    artifact_reader_role_arn: pulumi.Output[str] | None = None
    bucket_policy: pulumi.Output[str] | None = None
    endpoint_url: pulumi.Output[str] | None = None
    credentials_secret_name: pulumi.Output[str] | None = None
    pod_selector: dict[str, str] | None = None
    """Labels of the object store's pods when it runs in the cluster (MinIO)."""
    setup_selector: dict[str, str] | None = None
    port: int = 443
    cidr: str | None = None
    """Where an object store outside the cluster is reached on `port` (s3-compatible with a CIDR); None: on 443
    anywhere (S3), or its pods (MinIO)."""
    backup_target: BackupTarget | None = None
