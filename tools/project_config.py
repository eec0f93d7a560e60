"""What the Pulumi CLI checks in Pulumi.yaml and Pulumi.<stack>.yaml before a program runs.

`pulumi preview`/`up` call ValidateStackConfigAndApplyProjectConfig (pulumi/pulumi
pkg/workspace/config.go; sdk/go/common/workspace/config.go before v3.254) and load the project with
Project.Validate (sdk/go/common/workspace/project.go). A violation stops the command before the
program starts, so the mocks harness applies the same rules and fails the same way. Messages are
the CLI's own format strings. Read at pulumi/pulumi 1b5949891b (v3.259.0); unchanged since v3.254.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

# project.json, configTypeDeclaration: additionalProperties is false.
DECLARATION_ATTRIBUTES = {"type", "items", "description", "secret", "default", "value"}
TYPES = {"string", "integer", "boolean", "array", "object"}


@dataclass(frozen=True)
class StackConfig:
    """What the program receives: every value a string, and the keys that are secret."""

    values: dict[str, str]
    secret_keys: list[str]


class ProjectConfigError(Exception):
    """The CLI would refuse to run the program; the message lists every problem, as the CLI's."""


def _full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _in_project(project: str, key: str) -> bool:
    """configKeyIsNamespacedByProject (project.go): short keys and `<project>:` keys."""
    return ":" not in key or key.split(":", 1)[0] == project


def _type_name(declaration: dict[str, Any]) -> str:
    """InferFullTypeName (project.go): `array<string>` for arrays."""
    if declaration.get("type") == "array":
        return f"array<{_type_name(declaration.get('items') or {})}>"
    return str(declaration.get("type"))


def _matches(declaration: dict[str, Any], value: Any) -> bool:
    """ValidateConfigValue (project.go). Top-level stack scalars arrive as strings
    (object.MarshalString turns booleans and numbers into text); lists and maps keep JSON types."""
    kind = declaration.get("type")
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value) is not None  # strconv.Atoi
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list) and all(_matches(declaration.get("items") or {}, item) for item in value)
    return True


def _as_stack_value(value: Any) -> Any:
    """object.MarshalString: a scalar in the stack file reaches validation as its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def config_string(value: Any) -> str:
    """createConfigValue (config.go): %v for scalars (`true`, `20`), JSON for arrays and objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def validate_project(project_file: dict[str, Any]) -> list[str]:
    """Project.Validate (project.go, lines ~837-889) and the project.json schema."""
    project = project_file["name"]
    problems = []
    for key, declaration in (project_file.get("config") or {}).items():
        if not isinstance(declaration, dict):
            continue  # RewriteShorthandConfigValues: a bare value is `default` (project keys) or `value`
        if extra := set(declaration) - DECLARATION_ATTRIBUTES:
            problems.append(f"could not validate 'Pulumi.yaml': config.{key}: additional properties {sorted(extra)}")
        if "default" in declaration and "value" in declaration:
            problems.append(f"project config '{key}' cannot have both a 'default' and 'value' attribute")
        if not _in_project(project, key):
            if "type" in declaration:
                problems.append(f"Configuration key '{key}' is not namespaced by the project and should not define a type")
            if "default" in declaration:
                problems.append(f"Configuration key '{key}' is not namespaced by the project and should not define a "
                                "default value. Did you mean to use the 'value' attribute instead of 'default'?")
            if "value" not in declaration:
                problems.append(f"Configuration key '{key}' is namespaced and must provide an attribute 'value'")
            continue
        if "type" in declaration and declaration["type"] not in TYPES:
            problems.append(f"could not validate 'Pulumi.yaml': config.{key}.type must be one of {sorted(TYPES)}")
        if declaration.get("type") == "array" and "items" not in declaration:
            problems.append(f"The configuration key '{key}' declares an array but does not specify the underlying "
                            "type via the 'items' attribute")
        # Here the default keeps its YAML type: `type: string` with `default: 8080` is refused.
        if "type" in declaration and "default" in declaration and not _matches(declaration, declaration["default"]):
            problems.append(f"The default value specified for configuration key '{key}' is not of the expected type "
                            f"'{_type_name(declaration)}'")
    return problems


def apply_project_config(project_file: dict[str, Any], stack: str, stack_values: dict[str, Any],
                         validate: bool = True) -> StackConfig:
    """mergeConfig(validate=true) (config.go): defaults applied, then the CLI's checks; all problems at once.

    `stack_values` are Pulumi.<stack>.yaml's `config:` entries (short or namespaced keys); a
    `{"secure": ...}` value is an encrypted one. `validate=False` is `--skip-config-validation`
    (v3.249.0, pulumi/pulumi#23691: ApplyProjectConfig applies the defaults and checks nothing).
    """
    project = project_file["name"]
    problems = validate_project(project_file) if validate else []
    declarations: dict[str, dict[str, Any]] = {}
    for key, declaration in (project_file.get("config") or {}).items():
        if not isinstance(declaration, dict):
            declaration = {"default" if _in_project(project, key) else "value": declaration}
        declarations[_full_key(project, key)] = declaration

    # Stack keys without a namespace belong to the project (loaders.go).
    merged: dict[str, tuple[Any, bool]] = {}  # key -> (value, secure)
    for key, value in stack_values.items():
        secure = isinstance(value, dict) and set(value) == {"secure"}
        merged[_full_key(project, key)] = (value, secure)

    missing = []
    for key, declaration in declarations.items():
        if key in merged:
            continue
        present = "default" if "default" in declaration else "value" if "value" in declaration else None
        if present is None:
            if _in_project(project, key):
                missing.append(key.split(":", 1)[1] if key.startswith(f"{project}:") else key)
            continue
        # Defaults and values are always stored unencrypted (createConfigValue).
        merged[key] = (declaration[present], False)
    if not validate:
        pass
    elif missing:
        # missingStackConfigurationKeysError / formatMissingKeys (config.go).
        names = sorted(missing)
        listed = (f"'{names[0]}'" if len(names) == 1 else
                  ", ".join(f"'{n}'" for n in names[:-1]) + f" and '{names[-1]}'")
        problems.append(f"Stack '{stack}' is missing configuration {'value' if len(names) == 1 else 'values'} {listed}")
    else:
        # validateStackConfigValues (config.go): only explicitly typed project keys are checked.
        for key, declaration in declarations.items():
            if not _in_project(project, key) or "type" not in declaration:
                continue
            value, secure = merged[key]
            short = key.split(":", 1)[1] if key.startswith(f"{project}:") else key
            if declaration.get("secret") and not secure:
                # Since v3.202.0 (pulumi/pulumi#20674) defaults are validated too, so a typed secret
                # key with a default is always refused: pulumi/pulumi#21865.
                problems.append(f"Stack '{stack}' with configuration key '{short}' must be encrypted as it's secret")
            elif not secure and not _matches(declaration, _as_stack_value(value)):
                problems.append(f"Stack '{stack}' with configuration key '{short}' must be of type "
                                f"'{_type_name(declaration)}'")
    if problems:
        raise ProjectConfigError("validating stack config: " + "; ".join(problems))

    values: dict[str, str] = {}
    secret_keys = []
    for key, (value, secure) in merged.items():
        if secure:
            values[key] = f"placeholder-for-{key}"
            secret_keys.append(key)
        else:
            values[key] = config_string(value)
    return StackConfig(values, secret_keys)
