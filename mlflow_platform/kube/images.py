"""How a container names its image: the pull policy follows how the image is pinned, the registry can be a mirror."""

import re
from collections.abc import Mapping
from typing import Any


def image_fields(image: str) -> dict[str, Any]:
    """A digest names one image for ever, so a node's cached copy is it. A tag can be moved: `Always` makes the
    kubelet resolve it to the registry's current digest at each start (cached layers are reused), so every replica
    runs the same image and pull credentials are checked again."""
    return {"image": image, "imagePullPolicy": "IfNotPresent" if "@" in image else "Always"}


DOCKER_HUB = "docker.io"
_REGISTRY_HOST = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?")
_MIRROR = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([-a-z0-9._]*[a-z0-9])?)*")


def registry_of(image: str) -> tuple[str, str]:
    """(registry host, repository path with tag/digest), as the container runtime reads a reference: a first part
    with a dot or a port, or `localhost`, is a host; otherwise the image is on Docker Hub (`library/` when bare)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DOCKER_HUB, image if rest else f"library/{image}"


def mirrored(image: str, mirrors: Mapping[str, str]) -> str:
    """The image pulled through the mirror of its registry (e.g. ghcr.io -> harbor.example.com/ghcr), if any."""
    registry, path = registry_of(image)
    mirror = mirrors.get(registry)
    return f"{mirror.rstrip('/')}/{path}" if mirror else image


def mirror_problems(mirrors: Mapping[str, object]) -> list[str]:
    problems = [f"{registry!r} is not a registry host (e.g. ghcr.io, quay.io, docker.io, registry.example.com:5000)"
                for registry in mirrors if not _REGISTRY_HOST.fullmatch(registry)]
    problems += [f"{registry}: {mirror!r} is not a registry host with an optional path, without tag or digest "
                 "(e.g. harbor.example.com/ghcr-proxy)"
                 for registry, mirror in mirrors.items()
                 if not isinstance(mirror, str) or not _MIRROR.fullmatch(mirror.rstrip("/"))]
    return problems
