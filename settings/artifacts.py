"""The artifacts area: MinIO in the cluster, S3 with an IRSA role, or an S3-compatible store the team runs; the
bucket, its prefix and its keys."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from mlflow_platform.artifact_bucket import ArtifactBackend, IrsaTrust
from mlflow_platform.artifact_bucket.args import (
    endpoint_port,
)
from mlflow_platform.versions import MINIO_CLIENT_IMAGE, MINIO_IMAGE
from settings.cluster import ClusterFacts
from settings.reader import ConfigReader


@dataclass(frozen=True)
class StoreEndpoint:
    """An S3-compatible store the team runs: the program creates nothing there and never sees its keys."""

    url: str
    credentials_secret: str
    signing_region: str
    addressing_style: str
    cidr: str | None

    @property
    def plaintext(self) -> bool:
        return urlsplit(self.url).scheme == "http"

    @property
    def port(self) -> int:
        return endpoint_port(self.url)

    def unreachable_with_policies(self, allow_https_egress: bool) -> str | None:
        """Why the server's NetworkPolicy would not let it reach the store, or None."""
        if self.cidr or (allow_https_egress and self.port == 443):
            return None
        return (f"with networkPolicies the server connects only where its NetworkPolicy says, and nothing says "
                f"{self.url} (port {self.port}): set artifactEndpointCidr to the store's network"
                + (", or networkAllowHttpsEgress true (443 to any address)" if self.port == 443 else ""))


@dataclass(frozen=True)
class ArtifactSettings:
    backend: ArtifactBackend
    bucket: str
    prefix: str
    irsa: IrsaTrust | None
    also_trusted_service_accounts: tuple[str, ...]
    minio_image: str
    minio_client_image: str
    storage_size: str
    kms_key_arn: str | None
    noncurrent_version_days: int
    endpoint: StoreEndpoint | None = None
    """artifactBackend s3-compatible: where the store is and how MLflow reaches it."""


ENDPOINT_KEYS = ("artifactEndpointUrl", "artifactCredentialsSecret", "artifactEndpointCidr")


def read_endpoint(read: ConfigReader, region: str, style: str) -> StoreEndpoint | None:
    """artifactBackend s3-compatible: the endpoint, the Secret with the keys, signing and addressing, the network."""
    url = read.optional("artifactEndpointUrl")
    secret = read.optional("artifactCredentialsSecret")
    if not url:
        read.fail("artifactEndpointUrl", "is required for artifactBackend s3-compatible: your store's S3 API, e.g. "
                                         "https://rgw.example.com or https://<account>.r2.cloudflarestorage.com")
    if not secret:
        read.fail("artifactCredentialsSecret", "is required for artifactBackend s3-compatible: a Secret you create in "
                                               "the namespace with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                                               "(kubectl create secret generic ...); the keys never enter config")
    cidr = read.optional("artifactEndpointCidr")
    return StoreEndpoint(url, secret, region, style, cidr) if url and secret else None


def read_artifacts(read: ConfigReader, cluster: ClusterFacts, aws_region: str | None) -> ArtifactSettings | None:
    """None when a key of this area is wrong (the problems are recorded)."""
    mark = len(read.problems)
    backend = read.string("artifactBackend")
    bucket = read.string("artifactBucket")
    prefix = read.string("artifactPrefix")
    irsa: IrsaTrust | None = None
    also_trusted: tuple[str, ...] = ()
    endpoint: StoreEndpoint | None = None
    # Read with every backend, like the other backends' keys with defaults: a typo is reported whatever the backend.
    region = read.string("artifactEndpointRegion")
    style = read.string("artifactEndpointAddressingStyle")
    if backend == "s3-compatible":
        endpoint = read_endpoint(read, region, style)
    else:
        for key in ENDPOINT_KEYS:
            if read.optional(key):
                read.fail(key, f"is for artifactBackend s3-compatible (the backend is {backend!r}): unset it")
    if backend == "s3":
        if not aws_region:
            read.fail("awsRegion", "is required for artifactBackend s3 (e.g. us-east-1)")
        if bucket == "mlflow-artifacts":
            read.fail("artifactBucket", "S3 bucket names are global and 'mlflow-artifacts' is taken: "
                                        "choose one for your organisation, e.g. acme-mlflow-artifacts-prod")
        also_trusted = read.string_list("irsaTrustedServiceAccounts")
        irsa = IrsaTrust(oidc_provider_arn=cluster.get("oidcProviderArn", "artifactBackend s3 (IRSA)"),
                         issuer_url=cluster.get("oidcIssuerUrl", "artifactBackend s3 (IRSA)"))
    settings = ArtifactSettings(
        backend=backend,  # type: ignore[arg-type]  # checked against ARTIFACT_BACKENDS above
        bucket=bucket,
        prefix=prefix,
        irsa=irsa,
        also_trusted_service_accounts=also_trusted,
        minio_image=read.image("minioImage", MINIO_IMAGE),
        minio_client_image=read.image("minioClientImage", MINIO_CLIENT_IMAGE),
        storage_size=read.string("minioStorageSize"),
        kms_key_arn=read.optional("artifactKmsKeyArn"),
        noncurrent_version_days=read.integer("artifactNoncurrentVersionDays"),
        endpoint=endpoint,
    )
    return None if read.problems_since(mark) else settings
