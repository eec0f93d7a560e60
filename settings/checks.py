"""Checks of single config values: each returns what is wrong, or None."""

import math
import re

from mlflow_platform.kube.pods import label_value_problem, qualified_name_problem
from mlflow_platform.validation import dns_label_problem, dns_name_problem


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
