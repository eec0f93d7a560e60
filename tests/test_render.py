"""`make render STACK=…`: the stack's objects as YAML for review, made without a cluster or the Pulumi CLI, by the
program's own run under mocks of its own (tools/render.py), not the test suite's. Checked against the suite's run."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import PROD_SECRETS
from harness import ROOT, SECRET_MARKER, ProgramRun, run_program, walk_strings

WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob")


def rendered(stack: str, out: Path) -> tuple[list[tuple[str, str, dict[str, Any]]], str]:
    """The YAML `make render` writes: (Pulumi type, Pulumi name, object) per document, and the AWS summary."""
    secrets = ["--secret", "ssoClientSecret"] if stack == "prod" else []
    run = subprocess.run([sys.executable, "-m", "tools.render", "--stack", stack, "--out", str(out), *secrets],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    text = (out / "kubernetes.yaml").read_text()
    headers = re.findall(r"(?m)^# pulumi: (\S+) (\S+)$", text)
    bodies = list(yaml.safe_load_all(text))
    assert len(headers) == len(bodies)
    return [(t, n, body) for (t, n), body in zip(headers, bodies, strict=True)], (out / "aws.md").read_text()


@pytest.fixture(scope="module", params=["dev", "prod"])
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[ProgramRun, Any, str]:
    stack = request.param
    program = run_program(stack, PROD_SECRETS if stack == "prod" else None)
    documents, aws = rendered(stack, tmp_path_factory.mktemp(f"render-{stack}"))
    return program, documents, aws


def test_every_kubernetes_object_the_program_declares_is_rendered_once(both: tuple[ProgramRun, Any, str]) -> None:
    program, documents, _ = both
    declared = sorted((r.type, r.name) for r in program.kubernetes_objects())
    assert sorted((pulumi_type, name) for pulumi_type, name, _ in documents) == declared


def test_workloads_render_as_declared(both: tuple[ProgramRun, Any, str]) -> None:
    """Images, commands, ports and probes are the program's; only what the API server computes differs."""
    program, documents, _ = both
    objects = {(t, n): body for t, n, body in documents}
    for registration in program.kubernetes_objects():
        if registration.kind not in WORKLOADS:
            continue
        def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
            spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
            return list(spec["template"]["spec"]["containers"])
        for ours, theirs in zip(containers(objects[(registration.type, registration.name)]),
                                containers(registration.plain_inputs), strict=True):
            for key in ("image", "command", "ports", "readinessProbe", "resources", "securityContext", "volumeMounts"):
                assert ours.get(key) == theirs.get(key), (registration.name, key)


def test_nothing_secret_is_written(both: tuple[ProgramRun, Any, str]) -> None:
    program, documents, aws = both
    text = json.dumps([body for *_, body in documents]) + aws
    secrets = {value for r in program.resources for value in walk_strings(r.outputs) if SECRET_MARKER.lower() in
               value.lower()}
    assert SECRET_MARKER.lower() not in text.lower() and not [value for value in secrets if value in text]
    for _, name, body in documents:
        if body["kind"] == "Secret":
            assert set(body["stringData"].values()) == {"SECRET"}, name


def test_the_aws_summary_lists_every_aws_resource(both: tuple[ProgramRun, Any, str]) -> None:
    program, _, aws = both
    for registration in program.resources:
        if registration.type.startswith("aws:"):
            assert f"| `{registration.type}` | `{registration.name}` |" in aws
    if program.stack == "prod":
        assert "aws:rds/instance:Instance" in aws and "example values" in aws


def test_make_render_runs_the_tool() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/python -m tools.render --stack $(STACK)" in makefile
