"""Container requests and limits, as one validated value."""

from dataclasses import dataclass
from typing import Any

from components.validation import parse_quantity


@dataclass(frozen=True)
class ResourceSpec:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def __post_init__(self) -> None:
        for request, limit, what in (
            (self.cpu_request, self.cpu_limit, "cpu"),
            (self.memory_request, self.memory_limit, "memory"),
        ):
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"{what} request {request} is above its limit {limit}")

    def to_kubernetes(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }
