"""The rules the mlflow-platform policy pack enforces, as plain functions.

Resource rules take (resource type, properties, the policy's config) and return violation
messages; the stack rule takes every resource. The pack (policy/__main__.py) only adapts them to
CrossGuard, so tests call these directly on the resources captured from both stacks.

During a preview, values a provider computes (a bucket's id, an ARN) are unknown. pulumi_policy
hands them over as sentinels behind a proxy whose item access raises UnknownValueError
(pulumi_policy/proxy.py), and a policy that raises is reported as "can't run policy" and skipped
(policy.py, Analyze/AnalyzeStack). So the stack rule matches a bucket's companions by dependency,
never by a computed property, and reads properties only through `_known`.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy.proxy import UnknownValueError

Props = Mapping[str, Any]
ResourceRule = Callable[..., list[str]]

WORKLOADS = {
    "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob",
}
LOAD_BALANCER_OPT_IN = "mlflow-platform/allow-load-balancer"
SECRET_LIKE_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|SECRET_KEY|ACCESS_KEY)$", re.IGNORECASE)
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
MIN_BACKUP_RETENTION_DAYS = 7


@dataclass(frozen=True)
class StackResource:
    """What the stack rule needs of a resource: pulumi_policy's PolicyResource, flattened."""

    type: str
    urn: str
    props: Props
    dependencies: frozenset[str]
    """URNs this resource depends on, through its inputs or depends_on."""

    @property
    def logical_name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def _known(props: Props, key: str) -> Any:
    """props[key], or None while it is not known (a preview of resources not created yet)."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def _image_problem(image: str) -> str | None:
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag"
    return "uses the latest tag" if last.rsplit(":", 1)[1].lower() == "latest" else None


def s3_public_access_block(resource_type: str, props: Props) -> list[str]:
    if resource_type != "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        return []
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if props.get(flag) is not True]
    return [f"S3 public access block must set {', '.join(off)} to true"] if off else []


def s3_encryption(resource_type: str, props: Props) -> list[str]:
    if resource_type != "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        return []
    for rule in props.get("rules") or [{}]:
        algorithm = (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            return [f"S3 encryption must be SSE-KMS (aws:kms), not {algorithm!r}"]
    return []


def s3_versioning(resource_type: str, props: Props) -> list[str]:
    if resource_type != "aws:s3/bucketVersioning:BucketVersioning":
        return []
    status = (props.get("versioningConfiguration") or {}).get("status")
    return [] if status == "Enabled" else [f"S3 versioning must be Enabled, not {status!r}"]


def rds_protection(resource_type: str, props: Props, min_backup_retention_days: int = MIN_BACKUP_RETENTION_DAYS) -> list[str]:
    if resource_type != "aws:rds/instance:Instance":
        return []
    problems = []
    if props.get("storageEncrypted") is not True:
        problems.append("RDS storage must be encrypted")
    if int(props.get("backupRetentionPeriod") or 0) < min_backup_retention_days:
        problems.append(f"RDS backup retention must be at least {min_backup_retention_days} days")
    if props.get("deletionProtection") is not True:
        problems.append("RDS deletion protection must be on")
    if props.get("publiclyAccessible") is True:
        problems.append("RDS must not be publicly accessible")
    return problems


def _pod_spec(resource_type: str, props: Props) -> Props | None:
    if resource_type not in WORKLOADS:
        return None
    spec = props.get("spec") or {}
    if resource_type == "kubernetes:batch/v1:CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    pod: Props | None = ((spec.get("template") or {}).get("spec"))
    return pod


def _containers(pod: Props) -> Iterable[Props]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def kubernetes_containers(resource_type: str, props: Props) -> list[str]:
    """Non-root, no privilege escalation, CPU and memory limits, a pinned image."""
    pod = _pod_spec(resource_type, props)
    if pod is None:
        return []
    pod_non_root = (pod.get("securityContext") or {}).get("runAsNonRoot") is True
    problems = []
    for container in _containers(pod):
        name = container.get("name", "?")
        context = container.get("securityContext") or {}
        if not (context.get("runAsNonRoot") is True or (pod_non_root and context.get("runAsNonRoot") is not False)):
            problems.append(f"container {name} must run as non-root (runAsNonRoot: true)")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name} must set allowPrivilegeEscalation: false")
        limits = (container.get("resources") or {}).get("limits") or {}
        if not {"cpu", "memory"} <= limits.keys():
            problems.append(f"container {name} must set cpu and memory limits")
        if problem := _image_problem(str(container.get("image", ""))):
            problems.append(f"container {name} image {container.get('image')!r} {problem}; pin a version or digest")
    return problems


def kubernetes_no_secret_env_literals(resource_type: str, props: Props) -> list[str]:
    pod = _pod_spec(resource_type, props)
    if pod is None:
        return []
    return [
        f"container {container.get('name', '?')} sets {entry['name']} as a literal; read it from a Secret (valueFrom)"
        for container in _containers(pod)
        for entry in container.get("env") or []
        # An empty literal holds no secret: the server declares MLflow's job-runner token empty, so that only the one
        # `mlflow server` generates at start can be set (mlflow_platform/mlflow_server/jobs.py INTERNAL_TOKEN_ENV).
        if SECRET_LIKE_ENV.search(entry.get("name", "")) and entry.get("value")
    ]


def kubernetes_no_load_balancer(resource_type: str, props: Props) -> list[str]:
    if resource_type != "kubernetes:core/v1:Service" or (props.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    annotations = (props.get("metadata") or {}).get("annotations") or {}
    if annotations.get(LOAD_BALANCER_OPT_IN) == "true":
        return []
    return [f"Service of type LoadBalancer needs the annotation {LOAD_BALANCER_OPT_IN}: \"true\" (use the Ingress)"]


def iam_no_wildcards(resource_type: str, props: Props) -> list[str]:
    if resource_type not in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        return []
    document = props.get("policy")
    statements = (json.loads(document) if isinstance(document, str) else document or {}).get("Statement", [])
    problems = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if action == "*" or action.endswith(":*"):
                problems.append(f"IAM policy allows the wildcard action {action!r}")
        for resource in [resources] if isinstance(resources, str) else resources:
            if resource == "*":
                problems.append("IAM policy allows the wildcard resource '*'")
    return problems


RESOURCE_RULES: dict[str, tuple[str, ResourceRule]] = {
    "s3-public-access-block": ("S3 buckets block every kind of public access.", s3_public_access_block),
    "s3-encryption": ("S3 buckets are encrypted with SSE-KMS.", s3_encryption),
    "s3-versioning": ("S3 buckets keep versions.", s3_versioning),
    "rds-protection": ("RDS is encrypted, backed up for 7+ days, deletion-protected and private.", rds_protection),
    "kubernetes-containers": ("Containers run as non-root with limits, no privilege escalation and pinned images.",
                              kubernetes_containers),
    "kubernetes-no-secret-env-literals": ("Secret-looking environment variables come from Secrets.",
                                          kubernetes_no_secret_env_literals),
    "kubernetes-no-load-balancer": ("No LoadBalancer Service without an explicit opt-in.", kubernetes_no_load_balancer),
    "iam-no-wildcards": ("IAM policies name their actions and resources.", iam_no_wildcards),
}


# Each configurable rule's settings, as JSON schema (PolicyConfigSchema properties); the key in
# camelCase is the rule's keyword argument in snake_case. Set them, and any rule's enforcementLevel,
# in a file passed with `--policy-pack-config` (policy/config.example.json).
CONFIG_SCHEMAS: dict[str, dict[str, dict[str, Any]]] = {
    "rds-protection": {
        "minBackupRetentionDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": MIN_BACKUP_RETENTION_DAYS,
                                   "description": "Fewest days of RDS automated backups accepted."},
    },
}


def rule_arguments(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A policy's config (as pulumi_policy's get_config returns it) as the rule's keyword arguments."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): config[key]
            for key in CONFIG_SCHEMAS.get(name, {}) if key in config}


def s3_bucket_controls(resources: list[StackResource]) -> list[str]:
    """Every bucket has its public access block, encryption, versioning and a TLS-only policy.

    A companion is a resource of the companion's type that depends on the bucket: its `bucket`
    input is the bucket's id, unknown until the bucket exists."""
    companions = {
        "public access block": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "encryption configuration": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "versioning": "aws:s3/bucketVersioning:BucketVersioning",
    }
    problems = []
    for bucket in resources:
        if bucket.type != "aws:s3/bucket:Bucket":
            continue
        name = _known(bucket.props, "bucket") or bucket.logical_name
        attached = [r for r in resources if bucket.urn in r.dependencies]
        for what, companion in companions.items():
            if companion not in {r.type for r in attached}:
                problems.append(f"S3 bucket {name} has no {what}")
        policies = [r for r in attached if r.type == "aws:s3/bucketPolicy:BucketPolicy"]
        if not any(_denies_plain_http(_known(policy.props, "policy")) for policy in policies):
            problems.append(f"S3 bucket {name} has no policy denying requests without TLS")
    return problems


def _denies_plain_http(policy: Any) -> bool:
    document = json.loads(policy) if isinstance(policy, str) else policy or {}
    return any(
        statement.get("Effect") == "Deny"
        and str(((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")).lower() == "false"
        for statement in document.get("Statement", [])
    )
