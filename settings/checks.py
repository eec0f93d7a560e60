"""Checks of single config values: each returns what is wrong, or None."""

import math
import re

from mlflow_platform.kube.pods import label_value_problem, qualified_name_problem
from mlflow_platform.validation import dns_label_problem, dns_name_problem, issuer_url_problem, printable_ascii


def label_problem(value: str) -> str | None:
    """key=value by Kubernetes' label rules (a qualified name, a non-empty label value), as the pod settings check
    them."""
    key, sep, label = value.partition("=")
    if sep and label and not qualified_name_problem(key) and not label_value_problem(label):
        return None
    return f"{value!r} is not a Kubernetes label like release=kube-prometheus-stack"


def _finite(value: str) -> float | None:
    """A finite number written in ASCII (float() also takes 'inf', 'nan' and other scripts' digits)."""
    if not re.fullmatch(r"[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?", value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def positive_number_problem(value: str) -> str | None:
    number = _finite(value)
    if number is None:
        return f"{value!r} is not a finite number"
    return None if number > 0 else f"{value!r} must be above 0"


def ratio_problem(value: str) -> str | None:
    number = _finite(value)
    if number is None:
        return f"{value!r} is not a finite number"
    return None if 0 < number < 1 else f"{value!r} must be between 0 and 1 (0.1 is 10 %)"


# Partition, optional gov/iso marker, area, number: us-east-1, eu-central-2, us-gov-west-1, cn-north-1.
_AWS_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}")


def aws_region_problem(value: str) -> str | None:
    return None if _AWS_REGION.fullmatch(value) else f"{value!r} is not an AWS region like us-east-1"


def service_account_problem(value: str) -> str | None:
    namespace, _, account = value.partition(":")
    if dns_label_problem(namespace) or dns_label_problem(account):
        return f"{value!r} is not namespace:serviceaccount (e.g. training:trainer)"
    if namespace == "kube-system":
        return f"{value!r} is in kube-system, whose pods are the cluster's own: trust a namespace of your workloads"
    return None


# S3's safe key characters (AWS "Creating object key names") without '*': the prefix goes into IAM policy ARNs and
# conditions, where '*' and '?' are wildcards.
_PREFIX = re.compile(r"([0-9A-Za-z!_.()'-]+/)+")


def prefix_problem(value: str) -> str | None:
    if not _PREFIX.fullmatch(value) or any(part in (".", "..") for part in value.split("/")):
        return (f"{value!r} is not a key prefix like mlflow/: one or more segments of letters, digits and "
                "! _ . ( ) ' -, each ending in '/', with no leading '/', no wildcard and not empty (empty would give "
                "MLflow the whole bucket)")
    return None


def engine_version_problem(value: str) -> str | None:
    if not re.fullmatch(r"[1-9][0-9]*\.[0-9]+", value) or int(value.split(".")[0]) < 14:
        return f"{value!r} is not a pinned PostgreSQL version like 17.6 (major 14 or later)"
    return None


def instance_class_problem(value: str) -> str | None:
    """db.<family, generation and attributes>.<size> (RDS User Guide, "DB instance class types")."""
    size = r"(?:nano|micro|small|medium|large|[1-9][0-9]?xlarge|xlarge|metal(?:-[1-9][0-9]*xl)?)"
    if re.fullmatch(rf"db\.[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.{size}", value):
        return None
    return f"{value[:60]!r} is not an RDS instance class like db.t4g.medium or db.m7g.xlarge"


def email_domain_problem(value: str) -> str | None:
    """What oauth2-proxy's --email-domain takes: `*` (every account), or a domain name, in lower case."""
    if value == "*" or not dns_name_problem(value):
        return None
    return f"{value[:80]!r} is not an e-mail domain like example.com (lower case, no spaces), nor *"


def kube_context_problem(value: str) -> str | None:
    """client-go's kubeconfig gives context names no grammar (kind-x, arn:aws:eks:...:cluster/x, gke_p_z_x); the
    value is only looked up in the kubeconfig, so anything printable is a name."""
    if printable_ascii(value, 253):
        return None
    return f"{value[:80]!r} is not a kubeconfig context name: 1-253 printable ASCII characters without spaces"


# The Pulumi Service's name rules (pulumi/pulumi pkg/backend/httpstate/backend.go: stackOwnerRegexp,
# stackNameAndProjectRegexp), which the DIY backends' organization/project/stack follows too.
_STACK_OWNER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{1,38}[a-zA-Z0-9]")
_STACK_OR_PROJECT = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def stack_reference_problem(value: str) -> str | None:
    parts = value.split("/")
    owner_ok = len(parts) < 3 or _STACK_OWNER.fullmatch(parts[0])
    if len(parts) <= 3 and owner_ok and all(_STACK_OR_PROJECT.fullmatch(part) for part in parts[-2:]):
        return None
    return (f"{value[:80]!r} is not a stack reference like acme/eks-cluster/prod ([<organization>/[<project>/]]<stack>; "
            "project and stack: letters, digits, '_', '.', '-', up to 100 characters)")


# EC2 resource ids: the type's prefix and 8 (before 2016) or 17 lower-case hex digits.
def vpc_id_problem(value: str) -> str | None:
    return None if re.fullmatch(r"vpc-([0-9a-f]{8}|[0-9a-f]{17})", value) else (
        f"{value[:80]!r} is not a VPC id like vpc-0123456789abcdef0")


def security_group_id_problem(value: str) -> str | None:
    return None if re.fullmatch(r"sg-([0-9a-f]{8}|[0-9a-f]{17})", value) else (
        f"{value[:80]!r} is not a security group id like sg-0123456789abcdef0")


def oidc_provider_arn_problem(value: str) -> str | None:
    """arn:<partition>:iam::<account>:oidc-provider/<issuer host and path> (IAM identifiers), as EKS creates it."""
    match = re.fullmatch(r"arn:aws(-cn|-us-gov|-iso(-[a-z])?)?:iam::[0-9]{12}:oidc-provider/([^/]+)((/[A-Za-z0-9._~-]+)*)",
                         value)
    # IAM takes an issuer URL of up to 255 characters (CreateOpenIDConnectProvider).
    if match and len(value) <= 320 and not dns_name_problem(match.group(3)):
        return None
    return (f"{value[:100]!r} is not an IAM OIDC provider ARN like "
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE")


def client_id_problem(value: str) -> str | None:
    """An OAuth client_id is VSCHAR (RFC 6749, appendix A.1); a space would split oauth2-proxy's flag value."""
    if printable_ascii(value, 255):
        return None
    return f"{value[:80]!r} is not an OAuth client id: 1-255 printable ASCII characters without spaces"


def token_audience_problem(value: str) -> str | None:
    """A JWT audience (StringOrURI): printable, no spaces; no commas or quotes, which oauth2-proxy's CSV-read flags
    (--extra-jwt-issuers issuer=audience) would split."""
    if printable_ascii(value, 253) and not set(value) & {",", '"'}:
        return None
    return f"{value[:80]!r} is not a token audience: 1-253 printable ASCII characters without spaces, commas or quotes"


def audience_tag_problem(value: str) -> str | None:
    """Cloudflare Access's Application Audience (AUD) tag: 64 lower-case hex digits."""
    return None if re.fullmatch(r"[0-9a-f]{64}", value) else (
        f"{value[:80]!r} is not an Access application's AUD tag (64 lower-case hex digits)")


def cloudflare_team_problem(value: str) -> str | None:
    """<team>.cloudflareaccess.com, or its URL (http only for a local test issuer)."""
    return issuer_url_problem(value) if "://" in value else dns_name_problem(value)


def group_problem(value: str) -> str | None:
    """A group as the ID token's groups claim carries it (any script, inner spaces: 'Data Science'). oauth2-proxy's
    --allowed-group is a pflag StringSlice, read as CSV (oauth2-proxy pkg/apis/options/legacy_options.go), so a comma
    or a quote would make it other groups."""
    if 1 <= len(value) <= 255 and value.isprintable() and not set(value) & {",", '"'}:
        return None
    return f"{value[:80]!r} is not a group name: 1-255 printable characters without commas or quotes"


def trusted_issuer_problem(value: str) -> str | None:
    issuer, separator, audience = value.partition("=")
    if not separator or token_audience_problem(audience) or issuer_url_problem(issuer):
        return f"{value[:120]!r} is not issuer=audience, e.g. https://login.example.com=mlflow-ci"
    return None
