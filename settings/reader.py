"""Reads stack configuration as strings and records every problem, so all are reported at once."""

import difflib
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import config as runtime_config

from mlflow_platform.kube.images import mirrored
from mlflow_platform.kube.resources import ResourceSpec
from mlflow_platform.validation import image_problem, parse_quantity, quantity_problem

T = TypeVar("T")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; RunError makes Pulumi print the message without a traceback."""


class ConfigReader:
    """Reads raw strings from pulumi.Config and records every problem instead of stopping at the first."""

    def __init__(self, config: pulumi.Config) -> None:
        self._config = config
        self.problems: list[str] = []
        self.image_mirrors: dict[str, str] = {}
        """Registry host -> mirror (imageRegistryMirrors): every image read is pulled through it."""

    def key(self, name: str) -> str:
        return f"{self._config.name}:{name}"

    def fail(self, name: str, message: str) -> None:
        self.problems.append(f"{self.key(name)}: {message}")

    def problems_since(self, mark: int) -> bool:
        """Whether a problem was recorded after `mark` (a len(problems) taken before reading an area)."""
        return len(self.problems) > mark

    def _raw(self, name: str) -> str | None:
        return self._config.get(name)

    def _required(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None:
            self.fail(name, "is not set (its default is declared in Pulumi.yaml)")
        return value

    def string(self, name: str, *, allowed: tuple[str, ...] | None = None,
               check: Callable[[str], str | None] | None = None) -> str:
        value = self._required(name)
        if value is None:
            return ""
        if allowed is not None and value not in allowed:
            self.fail(name, f"{value!r} is not allowed; use one of: {', '.join(allowed)}")
        elif check is not None and (problem := check(value)):
            self.fail(name, problem)
        return value

    def optional(self, name: str, *, check: Callable[[str], str | None] | None = None) -> str | None:
        value = self._raw(name) or None
        if value is not None and check is not None and (problem := check(value)):
            self.fail(name, problem)
        return value

    def image(self, name: str, pinned_default: str) -> str:
        return mirrored(self.optional(name, check=image_problem) or pinned_default, self.image_mirrors)

    def quantity(self, name: str, *, minimum: str, maximum: str) -> str:
        """A Kubernetes quantity within [minimum, maximum] (both quantities too)."""
        value = self.string(name, check=quantity_problem)
        if value and not quantity_problem(value) and not (
                parse_quantity(minimum) <= parse_quantity(value) <= parse_quantity(maximum)):
            self.fail(name, f"{value} is out of range; allowed: {minimum} to {maximum}")
        return value

    def integer(self, name: str, *, minimum: int, maximum: int) -> int:
        value = self._required(name)
        if value is None:
            return minimum
        # int() also takes '3_0' (30) and other scripts' digits ('٣'): ASCII digits only.
        if not re.fullmatch(r"-?[0-9]+", value):
            self.fail(name, f"{value!r} is not an integer (ASCII digits only)")
            return minimum
        number = int(value)
        if not minimum <= number <= maximum:
            self.fail(name, f"{number} is out of range; allowed: {minimum} to {maximum}")
        return number

    def boolean(self, name: str) -> bool:
        value = self._required(name)
        if value is None or value.lower() not in ("true", "false"):
            if value is not None:
                self.fail(name, f"{value!r} is not a boolean; use true or false")
            return False
        return value.lower() == "true"

    def _list_of(self, name: str, kind: type, what: str) -> list[Any]:
        """A value declared `type: array` in Pulumi.yaml (the program receives it as JSON), each item a `kind`."""
        value = self._raw(name)
        if not value:
            return []
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, kind) for item in items):
            self.fail(name, f"{value!r} is not a list of {what}")
            return []
        return items

    def string_list(self, name: str, *, check: Callable[[str], str | None] | None = None) -> tuple[str, ...]:
        items = self._list_of(name, str, "strings")
        for item in items:
            if check is not None and (problem := check(item)):
                self.fail(name, problem)
        return tuple(items)

    def mapping(self, name: str) -> dict[str, Any]:
        """A value declared `type: object` in Pulumi.yaml (the program receives it as JSON)."""
        value = self._raw(name)
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            self.fail(name, f"{value!r} is not an object")
            return {}
        return parsed

    def object_list(self, name: str) -> list[dict[str, Any]]:
        return self._list_of(name, dict, "objects")

    def build(self, name: str, factory: Callable[..., T], **kwargs: Any) -> T | None:
        """Build a validated value object; its own checks become problems on `name`."""
        try:
            return factory(**kwargs)
        except ValueError as err:
            self.fail(name, str(err))
            return None

    def secret(self, name: str) -> pulumi.Output[str] | None:
        """A value that must have been set with `pulumi config set --secret`."""
        if not self._raw(name):
            return None
        if not pulumi.runtime.is_config_secret(self.key(name)):
            self.fail(name, f"must be set as a secret: pulumi config set --secret {self.key(name)} <value>")
        return self._config.get_secret(name)

    def refuse_undeclared_keys(self, known: set[str]) -> None:
        """A misspelt key would be ignored without a word: the CLI accepts any key of the project."""
        prefix = f"{self._config.name}:"
        present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
        for full_key in sorted(k for k in present if k.startswith(prefix)):
            name = full_key.removeprefix(prefix)
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                self.fail(name, f"is not a key of this project; {hint}(every key is declared in Pulumi.yaml)")

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ConfigError("invalid stack configuration:\n  - " + "\n  - ".join(self.problems))


def resources(read: ConfigReader, prefix: str) -> ResourceSpec | None:
    """<prefix>CpuRequest, ...CpuLimit, ...MemoryRequest, ...MemoryLimit as one validated spec."""
    mark = len(read.problems)
    bounds = {"cpu": ("1m", "256"), "memory": ("16Mi", "1Ti")}
    values = {f"{part}_{kind}": read.quantity(f"{prefix}{part.title()}{kind.title()}", minimum=bounds[part][0],
                                              maximum=bounds[part][1])
              for part in ("cpu", "memory") for kind in ("request", "limit")}
    if read.problems_since(mark):
        return None
    for part in ("cpu", "memory"):
        request, limit = values[f"{part}_request"], values[f"{part}_limit"]
        if parse_quantity(request) > parse_quantity(limit):
            read.fail(f"{prefix}{part.title()}Request", f"{part} request {request} is above its limit {limit}")
    return None if read.problems_since(mark) else ResourceSpec(**values)


def aws_tags() -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "mlflow-platform", "pulumi-project": pulumi.get_project(),
            "pulumi-stack": pulumi.get_stack()}
