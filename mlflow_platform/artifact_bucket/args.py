"""What ArtifactBucket takes: the backend and everything it needs, validated when built."""

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import pulumi

from mlflow_platform.kube.pods import PodSettings
from mlflow_platform.kube.resources import WorkloadSizes
from mlflow_platform.validation import (
    arn_problem,
    bucket_name_problem,
    cidr_problem,
    dns_label_problem,
    dns_subdomain_problem,
    image_problem,
    input_problem,
    quantity_problem,
    refuse,
)
from mlflow_platform.versions import MINIO_CLIENT_IMAGE, MINIO_IMAGE

ArtifactBackend = Literal["minio", "s3", "s3-compatible"]
ARTIFACT_BACKENDS: tuple[str, ...] = ("minio", "s3", "s3-compatible")
ADDRESSING_STYLES: tuple[str, ...] = ("path", "virtual")
_REGION = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?")


def endpoint_url_problem(value: str) -> str | None:
    """An S3 API endpoint: http(s)://host[:port], nothing else (no credentials, path, query or fragment)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return f"{value!r} is not an endpoint URL like https://objects.example.com"
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or not host or parts.username is not None or parts.password is not None
            or parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc
            or (not _is_ip(host) and dns_subdomain_problem(host)) or port == 0):
        return (f"{value!r} is not an endpoint URL like https://objects.example.com or https://objects.example.com:8443 "
                "(scheme, host and port only)")
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def endpoint_port(url: str) -> int:
    """The TCP port of an endpoint URL: its own, else the scheme's."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def signing_region_problem(value: str) -> str | None:
    """What SigV4 signs for: an AWS-style region, auto (Cloudflare R2), or a Ceph zonegroup's name."""
    return None if _REGION.fullmatch(value) else (f"{value!r} is not a signing region like us-east-1, auto (R2) or "
                                                  "your Ceph zonegroup's name")


@dataclass(frozen=True)
class IrsaTrust:
    """The EKS cluster's OIDC provider, which IAM trusts for the server's ServiceAccount tokens."""

    oidc_provider_arn: pulumi.Input[str]
    """The IAM OIDC provider of the EKS cluster (arn:aws:iam::<account>:oidc-provider/...)."""
    issuer_url: pulumi.Input[str]
    """The cluster's OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/...)."""


@dataclass(frozen=True)
class ArtifactBucketArgs:
    """What ArtifactBucket takes.

    Fields typed pulumi.Input (namespace, bucket name, region, KMS key, the credentials Secret, the IRSA trust) accept
    other resources' outputs: known values are checked at preview, unknown ones when they resolve. Every other field
    must be known at preview: the backend decides which objects exist, and the prefix, endpoint and CIDR shape the
    policies and NetworkPolicies.
    """

    namespace: pulumi.Input[str]
    """Namespace of MinIO (minio) and of the server's ServiceAccount (s3, in the IRSA trust)."""
    backend: ArtifactBackend = "minio"
    """minio (in the cluster), s3 (with IRSA) or s3-compatible (a store you run)."""
    bucket_name: pulumi.Input[str] = "mlflow-artifacts"
    """The bucket: created (minio, s3) or the team's own (s3-compatible)."""
    prefix: str = "mlflow/"
    """Key prefix of MLflow's artifacts; its credential reaches nothing outside it."""
    data_protection: bool = True
    """Keep data on destroy: MinIO's volume retained; the S3 bucket protected, never force-destroyed."""
    service_account: str = "mlflow"
    """The MLflow server's ServiceAccount (s3: the only identity the role trusts)."""
    # minio
    minio_image: str = MINIO_IMAGE
    """MinIO's image, pinned (its upstream is archived: the image receives no fixes)."""
    minio_client_image: str = MINIO_CLIENT_IMAGE
    """The MinIO client (mc) image of the setup Job, pinned."""
    storage_size: str = "10Gi"
    """minio: the data volume's size."""
    storage_class: str | None = None
    """minio: the data volume's StorageClass; None uses the cluster's default."""
    backup_prefix: str | None = None
    """minio: also create a write-only user for database backups under this prefix."""
    backup_retention_days: int = 30
    """minio: how long database backups are kept."""
    # s3
    irsa: IrsaTrust | None = None
    """s3: the EKS cluster's OIDC provider the role trusts."""
    also_trusted_service_accounts: tuple[str, ...] = ()
    """Further "namespace:serviceaccount" pairs the IRSA role trusts (e.g. training jobs)."""
    region: pulumi.Input[str] | None = None
    """s3: the bucket's AWS region (the server's AWS_REGION)."""
    kms_key_arn: pulumi.Input[str] | None = None
    """A customer-managed KMS key; None uses the AWS-managed S3 key (SSE-KMS with a bucket key either way)."""
    noncurrent_version_days: int = 30
    """How long overwritten and deleted versions are kept."""
    # s3-compatible: a store the team runs; the program creates nothing in it
    endpoint_url: str | None = None
    """The store's S3 API (MLFLOW_S3_ENDPOINT_URL), e.g. https://rgw.example.com."""
    credentials_secret: pulumi.Input[str] | None = None
    """A Secret the team creates in `namespace` with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
    signing_region: str = "us-east-1"
    """The region SigV4 signs for (auto for R2)."""
    addressing_style: str = "path"
    """path (bucket in the path: every S3-compatible store) or virtual (bucket in the host name)."""
    endpoint_cidr: str | None = None
    """Where the server may connect on the endpoint's port (its NetworkPolicy); None: 443 anywhere is open."""
    tags: dict[str, str] = field(default_factory=dict)
    """s3: AWS tags on the bucket and roles."""
    sizes: WorkloadSizes = field(default_factory=WorkloadSizes)
    """The size of each small workload here (mlflow_platform/kube/resources.py DEFAULT_RESOURCES)."""
    pods: PodSettings = field(default_factory=PodSettings)
    """Scheduling, pull secrets and metadata for every pod here."""

    def __post_init__(self) -> None:
        owner = "ArtifactBucketArgs"
        refuse(
            owner,
            input_problem(owner, self, "namespace", dns_label_problem),
            dns_label_problem(self.service_account),
            input_problem(owner, self, "bucket_name", bucket_name_problem),
            input_problem(owner, self, "kms_key_arn", arn_problem),
            input_problem(owner, self, "region", signing_region_problem),
            image_problem(self.minio_image),
            image_problem(self.minio_client_image),
            None if self.backend in ARTIFACT_BACKENDS else f"backend {self.backend!r} is not one of {ARTIFACT_BACKENDS}",
            None if self.prefix == "" or (self.prefix.endswith("/") and not self.prefix.startswith("/"))
            else f"prefix {self.prefix!r} must end with '/' and not start with it",
            None if self.backend != "s3" or (self.irsa and self.region) else "backend s3 needs irsa and region",
            None if self.backend != "s3-compatible" or (self.endpoint_url and self.credentials_secret)
            else "backend s3-compatible needs endpoint_url and credentials_secret",
            endpoint_url_problem(self.endpoint_url) if self.endpoint_url else None,
            input_problem(owner, self, "credentials_secret", dns_subdomain_problem),
            signing_region_problem(self.signing_region),
            f"endpoint_cidr {problem}" if self.endpoint_cidr and (problem := cidr_problem(self.endpoint_cidr)) else None,
            None if self.addressing_style in ADDRESSING_STYLES
            else f"addressing_style {self.addressing_style!r} is not one of {ADDRESSING_STYLES}",
            None if self.noncurrent_version_days >= 1 else "noncurrent_version_days must be at least 1",
            None if self.backup_retention_days >= 1 else "backup_retention_days must be at least 1",
            None if not self.backup_prefix or self.backend == "minio" else "backup_prefix needs backend minio",
            quantity_problem(self.storage_size),
        )
