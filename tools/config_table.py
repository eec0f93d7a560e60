"""Print docs/configuration.md's tables from Pulumi.yaml and settings.SECRET_KEYS (tests keep them equal)."""

import json
from pathlib import Path
from typing import Any

import yaml

from settings import SECRET_KEYS

ROOT = Path(__file__).resolve().parent.parent


def _default(declaration: dict[str, Any]) -> str:
    value = declaration.get("default")
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    return f"`{json.dumps(value) if isinstance(value, (list, dict)) else value}`"


def config_table() -> str:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for key, declaration in project["config"].items():
        if ":" in key:
            continue  # another package's setting (pulumi:disable-default-providers), not a key of ours
        description = declaration["description"].replace("|", "\\|")
        rows.append(f"| `{key}` | {declaration['type']} | {_default(declaration)} | {description} |")
    return "\n".join(rows)


def secrets_table() -> str:
    rows = ["| Secret key | Description |", "| --- | --- |"]
    rows += [f"| `{key}` | {description} |" for key, description in SECRET_KEYS.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(config_table())
    print()
    print(secrets_table())
