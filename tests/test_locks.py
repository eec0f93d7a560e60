"""The lock files (tools/lock.py) agree with what they lock: each holds its requirements file's pins, every package
pinned with hashes, and the environments that share the program's packages share their versions. A pin changed without
`make lock` fails here, offline, before an install would."""

import re
from pathlib import Path

import pytest

from harness import ROOT
from runtime.old_mlflow import UPGRADE_FROM, lock_file
from tools import lock

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def normalized(name: str) -> str:
    """PEP 503's name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str, directory: Path) -> dict[str, str]:
    """name -> version of a requirements text's exact pins, following its `-r` includes."""
    found = {normalized(name): version for name, version in PIN.findall(text)}
    for include in re.findall(r"^-r\s+(\S+)", text, re.M):
        found |= pins((directory / include).read_text(), (directory / include).parent)
    return found


def locked(path: Path) -> dict[str, str]:
    text = path.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for entry in entries:
        assert "--hash=sha256:" in entry, f"{path.name}: {entry.splitlines()[0]} has no hash"
    return pins(text, path.parent)


ALL_LOCKS = [*lock.LOCKS.items(), *((str(lock_file(v).relative_to(ROOT)), "-") for v in UPGRADE_FROM)]


@pytest.mark.parametrize(("lock_path", "source"), [(out, src) for src, out in lock.LOCKS.items()],
                         ids=list(lock.LOCKS.values()))
def test_each_lock_holds_its_requirements_pins(lock_path: str, source: str) -> None:
    header = (ROOT / lock_path).read_text().split("\n", 2)[1]
    assert header.startswith(f"#    uv pip compile {Path(source).name} --generate-hashes --universal --python-version "
                             f"{lock.PYTHON_VERSION}"), header
    wanted = pins((ROOT / source).read_text(), (ROOT / source).parent)
    have = locked(ROOT / lock_path)
    assert {name: have.get(name) for name in wanted} == wanted, "run make lock"


@pytest.mark.parametrize("version", list(UPGRADE_FROM))
def test_each_older_mlflow_lock_holds_its_pins(version: str) -> None:
    wanted = pins("\n".join(UPGRADE_FROM[version]), ROOT)
    have = locked(lock_file(version))
    assert {name: have.get(name) for name in wanted} == wanted, "run make lock"


def test_the_test_suite_runs_the_programs_versions() -> None:
    """What the suite tests the program with is what the program installs."""
    program, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    assert {name: dev.get(name) for name in program} == program
