"""Container environment entries."""

from typing import Any

import pulumi


def secret_env(variable: str, secret_name: pulumi.Input[str], key: str) -> dict[str, Any]:
    """An environment variable read from a Secret, so the value never appears in the pod spec."""
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
