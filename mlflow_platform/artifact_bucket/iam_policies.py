"""IAM policy documents: what MLflow may do on its bucket, who may assume its role, and TLS only.

Pure functions, so the unit tests, the runtime tests (moto) and the MinIO Job use the same documents.
"""

import json
from typing import Any


def mlflow_bucket_policy(bucket: str, prefix: str = "", kms_key_arn: str | None = None) -> dict[str, Any]:
    """Least privilege for MLflow's artifact proxy: list, read, write, delete (for `mlflow gc`) and
    multipart uploads under `prefix`; with a customer KMS key, the two key actions S3 needs."""
    list_statement: dict[str, Any] = {
        "Sid": "ListArtifacts",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}"],
    }
    if prefix:
        # s3:prefix exists only for ListBucket: on other actions the condition would never match.
        list_statement["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    statements = [
        list_statement,
        {
            "Sid": "LocateBucketAndUploads",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
        },
        {
            "Sid": "ReadWriteArtifacts",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"],
        },
    ]
    if kms_key_arn:
        statements.append({
            "Sid": "UseArtifactKey",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [kms_key_arn],
        })
    return {"Version": "2012-10-17", "Statement": statements}


def artifact_reader_policy(bucket: str, prefix: str, kms_key_arn: str | None = None) -> dict[str, Any]:
    """Read-only under `prefix`, for the jobs listed in irsaTrustedServiceAccounts: they log through MLflow's
    proxy and read models and artifacts straight from S3, and can neither write nor delete."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListArtifacts",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
        {"Sid": "LocateBucket", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
         "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Sid": "ReadArtifacts", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"]},
    ]
    if kms_key_arn:
        statements.append({"Sid": "DecryptArtifacts", "Effect": "Allow", "Action": ["kms:Decrypt"],
                           "Resource": [kms_key_arn]})
    return {"Version": "2012-10-17", "Statement": statements}


def mlflow_bucket_policy_json(bucket: str, prefix: str = "", kms_key_arn: str | None = None) -> str:
    return json.dumps(mlflow_bucket_policy(bucket, prefix, kms_key_arn), separators=(",", ":"))


def backup_bucket_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """Write-only for the backup job: it adds dumps under `prefix` and can neither read nor delete them."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListBackups",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            },
            {
                "Sid": "WriteBackups",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"],
            },
        ],
    }


def minio_lifecycle(noncurrent_days: int, backup_prefix: str | None, backup_retention_days: int) -> dict[str, Any]:
    """MinIO lifecycle (S3 rule format): old versions expire; so do backups after their retention."""
    rules: list[dict[str, Any]] = [
        {"ID": "expire-noncurrent-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days}},
    ]
    if backup_prefix:
        rules.append({"ID": "expire-backups", "Status": "Enabled", "Filter": {"Prefix": backup_prefix},
                      "Expiration": {"Days": backup_retention_days}})
    return {"Rules": rules}


def irsa_trust_policy(oidc_provider_arn: str, issuer_url: str, accounts: tuple[str, ...]) -> dict[str, Any]:
    """Only these ServiceAccounts' projected tokens ("namespace:serviceaccount"), minted for STS, may assume the role."""
    issuer = issuer_url.removeprefix("https://")
    subjects = [f"system:serviceaccount:{pair}" for pair in accounts]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": subjects[0] if len(subjects) == 1 else subjects,
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def tls_only_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
