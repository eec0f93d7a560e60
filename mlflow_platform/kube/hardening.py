"""Pod building blocks: security contexts for the 'restricted' Pod Security Standard, and volumes."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


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


def secret_files(name: str, secret_name: pulumi.Input[str]) -> dict[str, Any]:
    """A Secret's keys as files, readable by the pod's group (fsGroup) only: secrets reach a process as files,
    not as environment variables."""
    return {"name": name, "secret": {"secretName": secret_name, "defaultMode": 0o440}}


def data_volume(name: str, metadata: dict[str, Any], size: str, storage_class: str | None,
                parent: pulumi.Resource, retain: bool) -> k8s.core.v1.PersistentVolumeClaim:
    """A ReadWriteOnce claim declared on its own (not a volumeClaimTemplate), so it can grow and be kept."""
    return k8s.core.v1.PersistentVolumeClaim(
        name,
        metadata={**metadata, "name": name},
        spec={
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            **({"storageClassName": storage_class} if storage_class else {}),
        },
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=retain),
    )
