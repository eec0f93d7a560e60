"""The least-privilege S3 policy MLflow's artifact proxy needs, and nothing more.

MLflow lists, reads, writes and deletes objects, and uses multipart uploads for large
artifacts (presigned part uploads). Deletion is kept so `mlflow gc` works.
"""

import json
from typing import Any


def mlflow_bucket_policy(bucket: str, prefix: str = "") -> dict[str, Any]:
    objects = f"arn:aws:s3:::{bucket}/{prefix}*"
    list_statement: dict[str, Any] = {
        "Sid": "ListArtifactBucket",
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
        "Resource": [f"arn:aws:s3:::{bucket}"],
    }
    if prefix:
        list_statement["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            list_statement,
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
                "Resource": [objects],
            },
        ],
    }


def mlflow_bucket_policy_json(bucket: str, prefix: str = "") -> str:
    return json.dumps(mlflow_bucket_policy(bucket, prefix), separators=(",", ":"))
