"""How a container names its image, so the pull policy follows how the image is pinned."""

from typing import Any


def image_fields(image: str) -> dict[str, Any]:
    """A digest names one image for ever, so a node's cached copy is it. A tag can be moved: `Always` makes the
    kubelet resolve it to the registry's current digest at each start (cached layers are reused), so every replica
    runs the same image and pull credentials are checked again."""
    return {"image": image, "imagePullPolicy": "IfNotPresent" if "@" in image else "Always"}
