"""The artifacts area: MinIO in the cluster or S3 with an IRSA role, the bucket, its prefix and its keys."""

from dataclasses import dataclass

from components.artifact_bucket import ARTIFACT_BACKENDS, ArtifactBackend, IrsaTrust
from components.validation import bucket_name_problem
from components.versions import MINIO_CLIENT_IMAGE, MINIO_IMAGE
from settings.checks import arn_problem, prefix_problem, service_account_problem
from settings.cluster import ClusterFacts
from settings.reader import ConfigReader


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


def read_artifacts(read: ConfigReader, cluster: ClusterFacts, aws_region: str | None) -> ArtifactSettings | None:
    """None when a key of this area is wrong (the problems are recorded)."""
    mark = len(read.problems)
    backend = read.string("artifactBackend", allowed=ARTIFACT_BACKENDS)
    bucket = read.string("artifactBucket", check=bucket_name_problem)
    prefix = read.string("artifactPrefix", check=prefix_problem)
    irsa: IrsaTrust | None = None
    also_trusted: tuple[str, ...] = ()
    if backend == "s3":
        if not aws_region:
            read.fail("awsRegion", "is required for artifactBackend s3 (e.g. us-east-1)")
        if bucket == "mlflow-artifacts":
            read.fail("artifactBucket", "S3 bucket names are global and 'mlflow-artifacts' is taken: "
                                        "choose one for your organisation, e.g. acme-mlflow-artifacts-prod")
        also_trusted = read.string_list("irsaTrustedServiceAccounts", check=service_account_problem)
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
        storage_size=read.quantity("minioStorageSize", minimum="1Gi", maximum="64Ti"),
        kms_key_arn=read.optional("artifactKmsKeyArn", check=arn_problem),
        noncurrent_version_days=read.integer("artifactNoncurrentVersionDays", minimum=1, maximum=3650),
    )
    return None if read.problems_since(mark) else settings
