"""Inputs as other languages (and Python dicts) give them, made into the validated Args dataclasses.

The provider's Construct hands a component plain dicts keyed by the Python field names (pulumi's
provider/experimental/component.py map_inputs), nested types as dicts too. Converting them once, by the
dataclasses' own annotations, keeps one set of rules: each dataclass's __post_init__.
"""

import collections.abc
import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from mlflow_platform.kube.resources import DEFAULT_RESOURCES, ResourceSpec, WorkloadSizes

T = TypeVar("T")


def args_of(cls: type[T], given: Any) -> T:
    """`given` itself when it is already a `cls`, else `cls` built from a mapping of its fields."""
    if isinstance(given, cls):
        return given
    if not isinstance(given, Mapping):
        raise TypeError(f"{cls.__name__}: expected {cls.__name__} or a dict of its fields, got {type(given).__name__}")
    return _build(cls, given, cls.__name__)


def _build(cls: type[T], given: Mapping[str, Any], path: str) -> T:
    fields = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ValueError(f"{path}: no field {', '.join(map(repr, unknown))}; the fields are {', '.join(fields)}")
    annotations = inspect.get_annotations(cls)
    return cls(**{name: _convert(annotations[name], value, f"{path}.{name}") for name, value in given.items()})


def _convert(annotation: Any, value: Any, path: str) -> Any:
    if value is None:
        return None
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in arguments if a is not type(None)]
        if any(typing.get_origin(a) is collections.abc.Awaitable for a in members):
            return value  # pulumi.Input: a value or an Output, as given
        return _convert(members[0], value, path) if len(members) == 1 else value
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(_convert(arguments[0], item, f"{path}[{index}]") for index, item in enumerate(value))
    if origin in (dict, collections.abc.Mapping) and isinstance(value, Mapping):
        return {key: _convert(arguments[1], item, f"{path}.{key}") for key, item in value.items()}
    if annotation is WorkloadSizes and isinstance(value, Mapping):
        unknown = sorted(set(value) - set(DEFAULT_RESOURCES))
        if unknown:
            raise ValueError(f"{path}: {', '.join(map(repr, unknown))} is not a workload; use: {', '.join(DEFAULT_RESOURCES)}")
        return WorkloadSizes({**DEFAULT_RESOURCES, **{key: _convert(ResourceSpec, spec, f"{path}.{key}")
                                                      for key, spec in value.items()}})
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type) and isinstance(value, Mapping):
        return _build(annotation, value, path)
    return value
