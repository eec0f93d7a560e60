"""Security contexts that satisfy the Kubernetes 'restricted' Pod Security Standard."""

from typing import Any


def pod_security_context(uid: int) -> dict[str, Any]:
    """Non-root pod identity; fsGroup makes mounted volumes writable for that uid."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def empty_dir(name: str, size_limit: str, medium: str | None = None) -> dict[str, Any]:
    """A scratch volume with a size limit, so a runaway writer is evicted instead of filling the node."""
    spec: dict[str, Any] = {"sizeLimit": size_limit}
    if medium:
        spec["medium"] = medium
    return {"name": name, "emptyDir": spec}
