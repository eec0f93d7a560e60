"""A config key's format: its declared type and the rule of its value (the table is settings/formats.py)."""

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from mlflow_platform.validation import parse_quantity, quantity_problem

Check = Callable[[str], str | None]


@dataclass(frozen=True)
class Format:
    """A key's type as Pulumi.yaml declares it (string, integer, boolean, array, object) and the rule of its value;
    for an array of strings, `check` is each item's rule."""

    type: str
    rule: str
    check: Check | None = None
    minimum: int = 0
    maximum: int = 0

    def problem(self, value: str) -> str | None:
        """What is wrong with a string value (or a list's item) by this rule and every value's, or None."""
        return (self.check(value) if self.check else None) or text_problem(value)


def text(check: Check, rule: str) -> Format:
    return Format("string", rule, check)


def one_of(*values: str) -> Format:
    def check(value: str) -> str | None:
        return None if value in values else f"{value!r} is not allowed; use one of: {', '.join(values)}"
    return Format("string", f"one of: {', '.join(values)}", check)


def integer(minimum: int, maximum: int) -> Format:
    return Format("integer", f"an integer from {minimum} to {maximum} (ASCII digits)", minimum=minimum, maximum=maximum)


def quantity(minimum: str, maximum: str) -> Format:
    """A Kubernetes quantity (apimachinery's grammar) within [minimum, maximum]."""
    def check(value: str) -> str | None:
        if problem := quantity_problem(value):
            return problem
        if not parse_quantity(minimum) <= parse_quantity(value) <= parse_quantity(maximum):
            return f"{value} is out of range; allowed: {minimum} to {maximum}"
        return None
    return Format("string", f"a Kubernetes quantity from {minimum} to {maximum}", check)


def strings(check: Check, rule: str) -> Format:
    return Format("array", f"a list, each item {rule}", check)


def text_problem(value: str) -> str | None:
    """What every string value must be, whatever its key: no control characters (Unicode category Cc: C0, DEL, C1),
    invisible format characters (Cf: bidirectional overrides, zero-width spaces) nor line or paragraph separators (Zl,
    Zp), which make a value read other than it is, and no surrounding whitespace (a pasted value's newline would
    become part of a name, a URL or a flag)."""
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value):
        return f"{value[:80]!r} holds a control, invisible or line-separator character"
    if value != value.strip():
        return f"{value[:80]!r} has surrounding whitespace"
    return None
