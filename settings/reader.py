"""Reads stack configuration as strings and records every problem, so all are reported at once."""

import difflib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import config as runtime_config

from mlflow_platform.kube.images import mirrored
from mlflow_platform.kube.resources import ResourceSpec
from mlflow_platform.validation import parse_quantity
from settings.rules import Format

T = TypeVar("T")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; RunError makes Pulumi print the message without a traceback."""


class ConfigReader:
    """Reads raw strings from pulumi.Config and records every problem instead of stopping at the first."""

    def __init__(self, config: pulumi.Config, formats: Mapping[str, Format], empty_means_unset: set[str]) -> None:
        self._config = config
        self._formats = formats
        self._empty_means_unset = empty_means_unset
        self._seen: set[str] = set()
        self.problems: list[str] = []
        self.image_mirrors: dict[str, str] = {}
        """Registry host -> mirror (imageRegistryMirrors): every image read is pulled through it."""

    def key(self, name: str) -> str:
        return f"{self._config.name}:{name}"

    def fail(self, name: str, message: str) -> None:
        problem = f"{self.key(name)}: {message}"
        if problem not in self.problems:  # a key read twice (namespace) is reported once
            self.problems.append(problem)

    def problems_since(self, mark: int) -> bool:
        """Whether a problem was recorded after `mark` (a len(problems) taken before reading an area)."""
        return len(self.problems) > mark

    def _raw(self, name: str) -> str | None:
        self._seen.add(name)
        return self._config.get(name)

    def _format(self, name: str, *types: str) -> Format:
        """The key's declared format; reading a key the table does not declare, or as another type, is a bug."""
        declared = self._formats[name]
        assert declared.type in types, f"{name} is declared {declared.type}, read as {types}"
        return declared

    def _check(self, name: str, value: str, declared: Format) -> None:
        """Check a string (or a list's item) by the key's rule."""
        if problem := declared.problem(value):
            self.fail(name, problem)

    def _required(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None:
            self.fail(name, "is not set (its default is declared in Pulumi.yaml)")
        return value

    def string(self, name: str) -> str:
        declared = self._format(name, "string")
        value = self._required(name)
        if value is None:
            return ""
        self._check(name, value, declared)
        return value

    def optional(self, name: str) -> str | None:
        """A string key whose empty value means unset."""
        declared = self._format(name, "string")
        value = self._raw(name) or None
        if value is not None:
            self._check(name, value, declared)
        return value

    def image(self, name: str, pinned_default: str) -> str:
        return mirrored(self.optional(name) or pinned_default, self.image_mirrors)

    def integer(self, name: str) -> int:
        declared = self._format(name, "integer")
        value = self._required(name)
        if value is None:
            return declared.minimum
        # int() also takes '3_0' (30) and other scripts' digits ('٣'): ASCII digits only.
        if not re.fullmatch(r"-?[0-9]+", value):
            self.fail(name, f"{value!r} is not an integer (ASCII digits only)")
            return declared.minimum
        number = int(value)
        if not declared.minimum <= number <= declared.maximum:
            self.fail(name, f"{number} is out of range; allowed: {declared.minimum} to {declared.maximum}")
        return number

    def boolean(self, name: str) -> bool:
        self._format(name, "boolean")
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

    def string_list(self, name: str) -> tuple[str, ...]:
        declared = self._format(name, "array")
        items = self._list_of(name, str, "strings")
        for item in items:
            self._check(name, item, declared)
        return tuple(items)

    def mapping(self, name: str) -> dict[str, Any]:
        """A value declared `type: object` in Pulumi.yaml (the program receives it as JSON)."""
        self._format(name, "object")
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
        self._format(name, "array")
        return self._list_of(name, dict, "objects")

    def check_unread_keys(self) -> None:
        """Every key is checked by its format whether or not this stack uses it: a malformed value is a mistake (or
        an attack) waiting for the day the key is used."""
        for name, declared in self._formats.items():
            if name in self._seen:
                continue
            raw = self._raw(name)
            if raw is None or (raw == "" and name in self._empty_means_unset):
                continue
            if declared.type == "string":
                self.string(name)
            elif declared.type == "integer":
                self.integer(name)
            elif declared.type == "boolean":
                self.boolean(name)
            elif declared.type == "object":
                self.mapping(name)
            elif declared.check is not None:
                self.string_list(name)
            else:
                self.object_list(name)

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
    values = {f"{part}_{kind}": read.string(f"{prefix}{part.title()}{kind.title()}")
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
