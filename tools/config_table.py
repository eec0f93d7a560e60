"""docs/configuration.md's tables from Pulumi.yaml, each key's rule (settings/formats.py) and settings.SECRET_KEYS
(tests keep them equal):
`python -m tools.config_table` rewrites them."""

import json
from pathlib import Path
from typing import Any

import yaml

from settings import SECRET_KEYS
from settings.formats import FORMATS

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
    rows = ["| Key | Type | Rule | Default | Description |", "| --- | --- | --- | --- | --- |"]
    for key, declaration in project["config"].items():
        if ":" in key:
            continue  # another package's setting (pulumi:disable-default-providers), not a key of ours
        description = declaration["description"].replace("|", "\\|")
        rule = FORMATS[key].rule.replace("|", "\\|")
        rows.append(f"| `{key}` | {declaration['type']} | {rule} | {_default(declaration)} | {description} |")
    return "\n".join(rows)


def secrets_table() -> str:
    rows = ["| Secret key | Description |", "| --- | --- |"]
    rows += [f"| `{key}` | {description} |" for key, description in SECRET_KEYS.items()]
    return "\n".join(rows)


def write_tables(path: Path = ROOT / "docs" / "configuration.md") -> None:
    """Replace the two generated tables in `path`, in order, leaving the prose around them."""
    tables, lines, out = [config_table(), secrets_table()], path.read_text().split("\n"), []
    index = 0
    while index < len(lines):
        if lines[index].startswith("| ") and index + 1 < len(lines) and lines[index + 1].startswith("| ---"):
            while index < len(lines) and lines[index].startswith("|"):
                index += 1
            out.append(tables.pop(0))
        else:
            out.append(lines[index])
            index += 1
    if tables:
        raise SystemExit(f"{path} has fewer tables than the generator writes")
    path.write_text("\n".join(out))


if __name__ == "__main__":
    write_tables()
