"""The README and docs, the project file, the stack files and the pinned versions agree with each other."""

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from conftest import PROD_SECRETS
from harness import PROJECT, PROJECT_FILE, ROOT, run_program
from mlflow_platform.versions import MLFLOW_IMAGE, MLFLOW_VERSION
from settings import SECRET_KEYS
from tools.config_table import config_table, secrets_table

README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "bench").glob("*.md"))]
DECLARED = {key for key in PROJECT_FILE["config"] if ":" not in key}


def test_configuration_tables_match_pulumi_yaml_and_the_secret_keys() -> None:
    assert config_table() in CONFIGURATION, "rewrite the tables with: python -m tools.config_table"
    assert secrets_table() in CONFIGURATION, "rewrite the tables with: python -m tools.config_table"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower-case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    """Every relative link points at a file of the repository, and an #anchor at one of its headings."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md":
            headings = re.findall(r"(?m)^#+ (.+)$", resolved.read_text())
            if anchor not in {slug(h) for h in headings}:
                broken.append(target)
    assert broken == []


def test_the_readme_is_for_newcomers_and_links_every_doc() -> None:
    """The two commands and what is verified stay; reference material lives in docs/."""
    headings = re.findall(r"(?m)^## (.+)$", README)
    assert headings == ["Architecture", "Components", "Prerequisites", "Quick start (dev)", "Upgrading",
                        "Running the tests", "What is verified here, and what needs a real cluster", "Documentation"]
    for doc in (ROOT / "docs").glob("*.md"):
        assert f"](docs/{doc.name})" in README, doc.name
    # Read in two minutes: the reference is in docs/, and the test command comes before any section.
    assert len(README.encode()) <= 12 * 1024
    assert README.index("make test") < README.index("\n## ")


def test_every_declared_key_has_type_default_and_description() -> None:
    for key in DECLARED:
        assert {"type", "default", "description"} <= set(PROJECT_FILE["config"][key]), key


def test_no_declared_key_is_secret() -> None:
    """Secrets are read with --secret only (settings.SECRET_KEYS); see tests/test_engine_rules.py for why."""
    assert not any(PROJECT_FILE["config"][key].get("secret") for key in DECLARED)
    assert DECLARED.isdisjoint(SECRET_KEYS)


def test_readme_test_command_is_what_ci_runs() -> None:
    section = README.split("## Running the tests", 1)[1]
    readme_command = re.search(r"```sh\n(.+?)\n```", section, re.S)
    assert readme_command is not None
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert ci_lines[-1].strip() == readme_command.group(1).strip()


@pytest.mark.parametrize("stack_file", sorted(ROOT.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_stack_files_set_only_declared_keys(stack_file: Path) -> None:
    """A misspelt key in a stack file would otherwise be ignored without a word."""
    keys = (yaml.safe_load(stack_file.read_text()) or {}).get("config", {})
    unknown = {k for k in keys if k.startswith(f"{PROJECT}:") and k.split(":", 1)[1] not in DECLARED}
    assert unknown == set()


def test_the_program_reads_exactly_the_declared_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Across every mode (dev, prod, an external database): no undeclared key, no dead declaration."""
    read: set[str] = set()
    original = pulumi.Config.get

    def spy(self: pulumi.Config, key: str, *args: Any, **kwargs: Any) -> Any:
        read.add(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(pulumi.Config, "get", spy)
    run_program("dev")
    run_program("prod", PROD_SECRETS)
    run_program("dev", {"databaseMode": "external", "externalDatabaseHost": "pg.example.com",
                        "externalDatabasePassword": {"secure": "v1:abc"}, "clusterKubeconfig": {"secure": "v1:abc"},
                        "databaseCidr": "10.0.0.0/16"})
    assert read == DECLARED | set(SECRET_KEYS)


def test_one_mlflow_version_for_the_image_and_the_tests() -> None:
    assert MLFLOW_IMAGE.endswith(f":v{MLFLOW_VERSION}-full")
    pins = re.findall(r"^mlflow\[[^\]]*\]==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pins == [MLFLOW_VERSION]
    assert version("mlflow") == MLFLOW_VERSION


def test_every_requirement_is_pinned() -> None:
    for name in ("requirements.in", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-r")):
                assert re.match(r"^[A-Za-z0-9_.\-\[\],]+==\S+$", line), f"{name}: {line} is not pinned"
