"""Values built from inputs that may be other resources' outputs."""

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import pulumi

T = TypeVar("T")


def applied(build: Callable[..., T], *values: pulumi.Input[Any]) -> pulumi.Output[T]:
    """`build` called with the values once they are known: at preview already when they are plain, so a policy or a
    name built from configured strings is still known to the preview and to the policy pack."""
    return pulumi.Output.all(*values).apply(lambda known: build(*known))


def registered_outputs(component: pulumi.ComponentResource) -> dict[str, Any]:
    """What a component registers: its class-level annotated attributes, which are also the outputs the SDK's analyzer
    puts in the schema (by the same camelCase names), so Python and other languages read the same outputs."""
    names: dict[str, None] = {}
    for cls in reversed(type(component).__mro__):
        if issubclass(cls, pulumi.ComponentResource) and cls is not pulumi.ComponentResource:
            names |= dict.fromkeys(name for name in inspect.get_annotations(cls) if not name.startswith("_"))
    values = {_camel_case(name): getattr(component, name, None) for name in names}
    return {key: value for key, value in values.items() if value is not None}


def _camel_case(name: str) -> str:
    """pulumi/provider/experimental/util.py camel_case, the analyzer's naming of properties."""
    first, *rest = name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def concatenated(*parts: pulumi.Input[list[Any]]) -> pulumi.Input[list[Any]]:
    """The lists one after another: a plain list when every part is one (as known at preview as before), else an
    Output of the joined list (e.g. a container's environment with another component's output in it)."""
    if all(isinstance(part, list) for part in parts):
        return [item for part in parts for item in part]  # type: ignore[union-attr]  # all lists, checked above
    return pulumi.Output.all(*parts).apply(lambda known: pulumi.Output.from_input([i for part in known for i in part]))
