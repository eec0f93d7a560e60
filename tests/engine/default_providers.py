"""`pulumi:disable-default-providers`, as the engine applies it while the program registers resources.

pulumi/pulumi pkg/resource/deploy/default_providers.go (defaultProviders.shouldDenyRequest): the
config value is a JSON list of package names or "*"; the `pulumi` package is always allowed. A
resource of a denied package without an explicit provider fails the update with diag 2015
(sdk/go/common/diag/errors.go, GetDefaultProviderDenied).
"""

import json
from collections.abc import Iterable
from typing import Protocol

KEY = "pulumi:disable-default-providers"


class Registered(Protocol):
    @property
    def urn(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def custom(self) -> bool: ...
    @property
    def provider(self) -> str: ...


def denied_packages(config: dict[str, str]) -> set[str]:
    return set(json.loads(config.get(KEY) or "[]"))


def default_provider_problems(config: dict[str, str], registrations: Iterable[Registered]) -> list[str]:
    denied = denied_packages(config)
    problems = []
    for resource in registrations:
        package = resource.type.split(":", 1)[0]
        if not resource.custom or package == "pulumi" or resource.provider or resource.type.startswith("pulumi:providers:"):
            continue
        if "*" in denied or package in denied:
            problems.append(f"Default provider for '{package}' disabled. '{resource.urn}' must use an explicit provider.")
    return problems
