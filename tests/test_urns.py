"""Every resource keeps its URN (type token, name and parent chain) across changes to the code.

A changed URN makes Pulumi delete the old resource and create a new one: for the database, its
volume or the bucket that is data loss. A deliberate rename needs an `aliases` entry on the resource
(and its test), then `python tools/render_stacks.py --urns` to record the new URNs.
"""

import json

import pytest

from harness import ROOT, ProgramRun

SNAPSHOT = json.loads((ROOT / "tests" / "snapshots" / "urns.json").read_text())


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_urn_is_the_one_recorded(stack: str, dev: ProgramRun, prod: ProgramRun) -> None:
    run = {"dev": dev, "prod": prod}[stack]
    rendered = sorted(r.urn for r in run.resources)
    assert set(rendered) - set(SNAPSHOT[stack]) == set(), "new or renamed resources"
    assert set(SNAPSHOT[stack]) - set(rendered) == set(), "renamed or removed resources: add aliases"
