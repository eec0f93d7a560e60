"""An S3-compatible store the team already runs (Ceph RGW, Cloudflare R2, their own MinIO), with static keys.

The program creates nothing in that store and never sees the keys: the team creates the bucket, a user whose policy
is `bucket_policy` below (the MinIO and S3 backends' policy, exported as a stack output), and a Secret in the namespace
with that user's keys. The server reads them from the Secret by reference (secretKeyRef), never as literals.
"""

import pulumi

from mlflow_platform.artifact_bucket.args import ArtifactBucketArgs, endpoint_port
from mlflow_platform.artifact_bucket.iam_policies import mlflow_bucket_policy_json
from mlflow_platform.artifact_bucket.store import ArtifactStore
from mlflow_platform.kube.env import secret_env
from mlflow_platform.outputs import applied

# The Secret's keys: the names boto3 reads from the environment, so each maps to its own variable.
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def s3_compatible_store(parent: pulumi.Resource, name: str, args: ArtifactBucketArgs) -> ArtifactStore:
    assert args.endpoint_url and args.credentials_secret  # checked by ArtifactBucketArgs
    # The endpoint as given, without a trailing '/': boto3 joins the bucket and key to it.
    endpoint = args.endpoint_url.rstrip("/")
    policy = applied(mlflow_bucket_policy_json, args.bucket_name, args.prefix)
    return ArtifactStore(
        bucket_name=pulumi.Output.from_input(args.bucket_name),
        destination=pulumi.Output.concat("s3://", args.bucket_name, "/", args.prefix),
        # mlflow/store/artifact/s3_artifact_repo.py (3.17.2) _get_s3_client: MLFLOW_S3_ENDPOINT_URL is the endpoint,
        # MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE the addressing style; boto3 takes the keys and the signing region from
        # the AWS_* variables. MLFLOW_S3_IGNORE_TLS is never set: the endpoint's certificate is always verified.
        server_env=[
            {"name": "MLFLOW_S3_ENDPOINT_URL", "value": endpoint},
            {"name": "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "value": args.addressing_style},
            {"name": "AWS_DEFAULT_REGION", "value": args.signing_region},
            {"name": "AWS_REGION", "value": args.signing_region},
            *(secret_env(key, args.credentials_secret, key) for key in CREDENTIAL_KEYS),
        ],
        endpoint_url=pulumi.Output.from_input(endpoint),
        credentials_secret_name=pulumi.Output.from_input(args.credentials_secret),
        bucket_policy=policy,
        port=endpoint_port(endpoint),
        cidr=args.endpoint_cidr,
    )
