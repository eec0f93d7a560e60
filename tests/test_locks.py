"""The lock files (tools/lock.py) agree with what they lock: each holds its requirements file's pins, every package
pinned with hashes, and the environments that share the program's packages share their versions. A pin changed without
`make lock` fails here, offline, before an install would. Every lock in the repository is one of tools/lock.py's, and
what the Pulumi CLI installs for a program (its requirements.txt) puts pip in hash-checking mode."""

import re
from pathlib import Path

import pytest
import yaml

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
    """What the suite tests the program with is what the program installs, and the training-job example the same."""
    program, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    assert {name: dev.get(name) for name in program} == program
    example = locked(ROOT / "examples" / "training-job" / "requirements.lock")
    assert {name: program.get(name) for name in example} == example


def test_every_lock_in_the_repository_is_written_and_checked_here() -> None:
    found = {str(path.relative_to(ROOT)) for path in ROOT.glob("**/*.lock")
             if not {".venv", "venv", "node_modules"} & set(path.relative_to(ROOT).parts)}
    python_locks = {name for name in found if Path(name).name.startswith("requirements") or "old-mlflow" in name}
    assert python_locks == set(lock.LOCKS.values()) | {str(lock_file(v).relative_to(ROOT)) for v in UPGRADE_FROM}


def requirement_lines(path: Path) -> list[tuple[Path, str]]:
    """(file, requirement) for every requirement pip reads from a requirements file: comments dropped, continuation
    lines joined, `-r` followed relative to the file that names it (pip's req_file.py)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found: list[tuple[Path, str]] = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if include := re.fullmatch(r"(?:-r|--requirement)\s+(\S+)", line):
            found += requirement_lines(path.parent / include[1])
        elif line:
            found.append((path, line))
    return found


@pytest.mark.parametrize("program", list(lock.PULUMI_PROGRAMS), ids=list(lock.PULUMI_PROGRAMS))
def test_what_pulumi_installs_for_a_program_is_its_lock_under_hash_checking(program: str) -> None:
    """The Pulumi CLI's pip toolchain runs `python -m pip install -r requirements.txt` in the project's directory (after
    upgrading pip, setuptools and wheel), and no runtime option names another file: pulumi/pulumi
    sdk/python/toolchain/pip.go, InstallDependencies; sdk/python/cmd/pulumi-language-python/main.go reads only
    `toolchain`, `virtualenv` and `typechecker`. pip enters hash-checking mode once any requirement it reads carries a
    hash, and then refuses every requirement without one, so that file names the lock and nothing else."""
    path = ROOT / program
    assert [line for line in path.read_text().splitlines() if line and not line.startswith("#")] == [
        f"-r {Path(lock.PULUMI_PROGRAMS[program]).name}"]
    project = yaml.safe_load((path.parent / "Pulumi.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    requirements = requirement_lines(path)
    assert requirements and {file for file, _ in requirements} == {ROOT / lock.PULUMI_PROGRAMS[program]}
    assert all("--hash=sha256:" in line for _, line in requirements)
    source = next(src for src, out in lock.LOCKS.items() if out == lock.PULUMI_PROGRAMS[program])
    assert Path(source).parent == Path(program).parent and Path(source).name == "requirements.in"


def test_the_python_programs_that_pulumi_installs_are_all_known() -> None:
    """Every Pulumi.yaml or PulumiPlugin.yaml with the python runtime: its requirements.txt is hash-locked, or (provider/
    and examples/python-platform/, which install this checkout, a directory pip's hash-checking mode refuses) names
    the program's direct pins, which hold no hashes: one hash there would fail the directory's install."""
    unlocked = {"provider/requirements.txt", "examples/python-platform/requirements.txt"}
    found = set()
    for manifest in [*ROOT.glob("**/Pulumi.yaml"), *ROOT.glob("**/PulumiPlugin.yaml")]:
        if {".venv", "venv", "node_modules"} & set(manifest.relative_to(ROOT).parts):
            continue
        runtime = yaml.safe_load(manifest.read_text())["runtime"]
        if (runtime if isinstance(runtime, str) else runtime["name"]) == "python":
            found.add(str((manifest.parent / "requirements.txt").relative_to(ROOT)))
    assert found == set(lock.PULUMI_PROGRAMS) | unlocked
    for name in unlocked:
        lines = requirement_lines(ROOT / name)
        assert not any("--hash" in line for _, line in lines), name
        assert ("..", ROOT / name) in {(line, file) for file, line in lines} or ("../..", ROOT / name) in {
            (line, file) for file, line in lines}, name
        assert not re.search(r"^-[rc]\s+\S*requirements\.(txt|lock)$", (ROOT / name).read_text(), re.M), name


def test_every_install_outside_pulumi_is_from_a_lock_with_hash_checking() -> None:
    """The workflows and e2e/run.sh install with `pip install --require-hashes -r <lock>` (the Makefile through
    PIP_INSTALL), each lock one of tools/lock.py's; `pulumi install` reads requirements.txt (tested above)."""
    locks = set(lock.LOCKS.values())
    scripts = [*sorted((ROOT / ".github" / "workflows").glob("*.yml")), ROOT / "e2e" / "run.sh"]
    installs = [(path.name, line.strip()) for path in scripts for line in path.read_text().splitlines()
                if re.search(r"\bpip\"? install\b", line) and not line.strip().startswith("#")]
    assert any(name == "run.sh" for name, _ in installs)
    for name, line in installs:
        match = re.search(r"pip\"? install (?:--quiet )?--require-hashes -r (\S+)$", line.split("  #")[0])
        assert match and match[1] in locks, f"{name}: {line}"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PIP_INSTALL = pip install .*--require-hashes$", makefile, re.M)
    assert not re.search(r"pip install", makefile.replace("PIP_INSTALL = pip install", ""))
