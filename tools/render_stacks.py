"""Render both stacks under the test suite's mocks and print every registration as sorted JSON.

Used to prove a refactoring changes nothing Pulumi would see: render before and after, then diff.

    .venv/bin/python tools/render_stacks.py > before.json   # ... refactor ...
    .venv/bin/python tools/render_stacks.py > after.json && diff before.json after.json

`--urns` adds the URNs both stacks and their optional parts declare now to tests/snapshots/urns.json, the record
tests/test_urns.py holds them to; a recorded URN is never dropped (an upgrade from any release must still find it).
"""

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import OPTIONAL_OBJECTS, PROD_SECRETS  # noqa: E402
from engine.aliases import engine_urns  # noqa: E402
from harness import ProgramRun, run_program  # noqa: E402


def render(run: ProgramRun) -> dict[str, Any]:
    """What the engine sees of each resource: URN, parent, provider (without its id), inputs and options."""
    return {
        "resources": [
            {"urn": r.urn, "parent": r.parent, "provider": r.provider.split("::")[-2] if r.provider else "",
             "custom": r.custom, "inputs": r.plain_inputs, "dependencies": sorted(r.dependencies),
             "retain_on_delete": r.retain_on_delete, "protect": r.protect, "custom_timeouts": r.custom_timeouts}
            for r in sorted(run.resources, key=lambda r: r.urn)
        ],
        "component_outputs": dict(sorted(run.component_outputs.items())),
        "stack_outputs": run.stack_outputs,
    }


URN_SNAPSHOT = ROOT / "tests" / "snapshots" / "urns.json"


def stacks() -> dict[str, ProgramRun]:
    return {"dev": run_program("dev"), "prod": run_program("prod", PROD_SECRETS)}


def urns(run: ProgramRun) -> list[str]:
    """The URNs as the engine forms them (the mocks' differ: tests/engine/aliases.py, engine_urns)."""
    return sorted(engine_urns(run.resources).values())


if __name__ == "__main__":
    if sys.argv[1:] == ["--urns"]:
        recorded = json.loads(URN_SNAPSHOT.read_text()) if URN_SNAPSHOT.exists() else {}
        runs = {**stacks(), **{name: run_program(*variant) for name, variant in OPTIONAL_OBJECTS.items()}}
        URN_SNAPSHOT.parent.mkdir(exist_ok=True)
        URN_SNAPSHOT.write_text(json.dumps({name: sorted(set(recorded.get(name, [])) | set(urns(run)))
                                            for name, run in runs.items()}, indent=1) + "\n")
    else:
        print(json.dumps({name: render(run) for name, run in stacks().items()}, indent=1, sort_keys=True, default=str))
