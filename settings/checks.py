"""Checks of single config values: each returns what is wrong, or None."""

import re

from components.validation import dns_label_problem


def dns_name_problem(value: str) -> str | None:
    labels = value.split(".")
    if len(labels) < 2 or any(dns_label_problem(label) for label in labels):
        return f"{value!r} is not a DNS name like mlflow.example.com"
    return None


def https_url_problem(value: str) -> str | None:
    return None if value.startswith("https://") and " " not in value else f"{value!r} is not an https:// URL"


def issuer_url_problem(value: str) -> str | None:
    """An OIDC issuer: https, or http on this machine only (a local test identity provider)."""
    if re.fullmatch(r"http://(localhost|127\.0\.0\.1)(:[0-9]+)?(/\S*)?", value):
        return None
    return https_url_problem(value)


def label_problem(value: str) -> str | None:
    key, sep, label = value.partition("=")
    return None if sep and key and label and " " not in value else f"{value!r} is not a label like release=kube-prometheus-stack"


def positive_number_problem(value: str) -> str | None:
    try:
        return None if float(value) > 0 else f"{value!r} must be above 0"
    except ValueError:
        return f"{value!r} is not a number"


def ratio_problem(value: str) -> str | None:
    try:
        return None if 0 < float(value) < 1 else f"{value!r} must be between 0 and 1 (0.1 is 10 %)"
    except ValueError:
        return f"{value!r} is not a number"


def cron_problem(value: str) -> str | None:
    fields = value.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[0-9*/,\-]+|[A-Za-z]{3}", f) for f in fields):
        return f"{value!r} is not a 5-field cron schedule like '0 3 * * *'"
    return None


def service_account_problem(value: str) -> str | None:
    namespace, _, account = value.partition(":")
    if dns_label_problem(namespace) or dns_label_problem(account):
        return f"{value!r} is not namespace:serviceaccount (e.g. training:trainer)"
    return None


def prefix_problem(value: str) -> str | None:
    if value and (not value.endswith("/") or value.startswith("/") or " " in value):
        return f"{value!r} must be empty or end with '/' (e.g. mlflow/), without a leading '/'"
    return None


def engine_version_problem(value: str) -> str | None:
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) < 14:
        return f"{value!r} is not a pinned PostgreSQL version like 17.6 (major 14 or later)"
    return None


def instance_class_problem(value: str) -> str | None:
    return None if value.startswith("db.") and value.count(".") == 2 else f"{value!r} is not an RDS class like db.t4g.medium"


def arn_problem(value: str) -> str | None:
    return None if value.startswith("arn:aws") and value.count(":") >= 5 else f"{value!r} is not an ARN"
