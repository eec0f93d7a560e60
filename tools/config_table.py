"""Print the README's configuration table from Pulumi.yaml (tests/test_docs.py keeps them equal)."""

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _default(declaration: dict[str, Any]) -> str:
    value = declaration.get("default")
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    return f"`{json.dumps(value) if isinstance(value, list) else value}`"


def config_table() -> str:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for key, declaration in project["config"].items():
        description = declaration["description"].replace("|", "\\|")
        rows.append(f"| `{key}` | {declaration['type']} | {_default(declaration)} | {description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(config_table())
