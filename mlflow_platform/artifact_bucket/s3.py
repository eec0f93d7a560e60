"""The prod artifact store: an S3 bucket locked down by default, and an IRSA role scoped to its prefix."""

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from mlflow_platform.artifact_bucket.args import ArtifactBucketArgs
from mlflow_platform.artifact_bucket.iam_policies import (
    artifact_reader_policy,
    irsa_trust_policy,
    mlflow_bucket_policy,
    tls_only_bucket_policy,
)
from mlflow_platform.artifact_bucket.store import ArtifactStore
from mlflow_platform.outputs import applied

INCOMPLETE_MULTIPART_DAYS = 7


def s3_store(parent: pulumi.Resource, name: str, args: ArtifactBucketArgs) -> ArtifactStore:
    assert args.irsa is not None and args.region is not None  # checked by ArtifactBucketArgs
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        name,
        bucket=args.bucket_name,
        force_destroy=not args.data_protection,
        tags=dict(args.tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=args.data_protection),
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
    )
    encryption_default: dict[str, pulumi.Input[str]] = {"sse_algorithm": "aws:kms"}
    if args.kms_key_arn:
        encryption_default["kms_master_key_id"] = args.kms_key_arn
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": encryption_default, "bucket_key_enabled": True}],
        opts=child,
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        # Built from the configured name, like the role's policy, so it is known at preview and the
        # policy pack can read it on a new stack's first preview (bucket.arn would be unknown then).
        policy=applied(lambda bucket_name: json.dumps(tls_only_bucket_policy(f"arn:aws:s3:::{bucket_name}")), args.bucket_name),
        # S3 rejects bucket policies while the public access block is being applied.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {},
                "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
            },
            {
                # A cut upload (client gone, S3 down mid-upload) leaves invisible, billed parts.
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {},
                "abort_incomplete_multipart_upload": {"days_after_initiation": INCOMPLETE_MULTIPART_DAYS},
            },
        ],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )

    irsa = args.irsa

    def irsa_role(suffix: str, accounts: pulumi.Input[tuple[str, ...]], description: pulumi.Input[str],
                  policy: pulumi.Input[dict[str, Any]]) -> aws.iam.Role:
        """A role these ServiceAccounts assume through IRSA, with one inline policy."""
        trust = applied(lambda arn, issuer, trusted: json.dumps(irsa_trust_policy(arn, issuer, trusted)),
                        irsa.oidc_provider_arn, irsa.issuer_url, accounts)
        role = aws.iam.Role(f"{name}-{suffix}", assume_role_policy=trust, description=description,
                            tags=dict(args.tags), opts=child)
        aws.iam.RolePolicy(f"{name}-{suffix}-s3", role=role.id, policy=applied(json.dumps, policy), opts=child)
        return role

    # The server alone: other jobs get the read-only role below, never its write and delete rights.
    role = irsa_role("irsa", applied(lambda namespace: (f"{namespace}:{args.service_account}",), args.namespace),
                     pulumi.Output.format("MLflow server ({0}/{1}) access to its artifact bucket", args.namespace,
                                          args.service_account),
                     applied(mlflow_bucket_policy, args.bucket_name, args.prefix, args.kms_key_arn))
    reader_role = irsa_role(
        "irsa-reader", args.also_trusted_service_accounts,
        pulumi.Output.format("Read-only access to MLflow's artifacts in {0}/{1}", args.bucket_name, args.prefix),
        applied(artifact_reader_policy, args.bucket_name, args.prefix, args.kms_key_arn)
    ) if args.also_trusted_service_accounts else None
    return ArtifactStore(
        bucket_name=bucket.bucket,
        destination=pulumi.Output.concat("s3://", args.bucket_name, "/", args.prefix),
        # No keys and no MLFLOW_S3_ENDPOINT_URL: the SDK takes the role from the IRSA token.
        server_env=[{"name": "AWS_DEFAULT_REGION", "value": args.region}, {"name": "AWS_REGION", "value": args.region}],
        service_account_annotations={"eks.amazonaws.com/role-arn": role.arn},
        bucket_arn=bucket.arn,
        irsa_role_arn=role.arn,
        artifact_reader_role_arn=reader_role.arn if reader_role else None,
    )
