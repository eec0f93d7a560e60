"""Writes the lock files: every Python environment's full dependency tree, pinned with hashes, from its requirements.

Each requirements file names what an environment needs directly (exact pins); its lock, beside it, pins everything
that brings in, each with the sha256 of every file PyPI serves for that version (`uv pip compile --generate-hashes
--universal`: one lock for every platform). The Makefile, .ci/run and the workflows install the locks with
`pip install --require-hashes`, so nothing floats and nothing is swapped under a version number.

    python -m tools.lock            # rewrite every lock (needs PyPI), then review the diff
    make lock                       # the same

tests/test_locks.py checks offline that each lock still holds its requirements file's pins.

A Pulumi program's environment is made by the Pulumi CLI, which runs `python -m pip install -r requirements.txt` in
the project's directory and can be told no other file (pulumi/pulumi sdk/python/toolchain/pip.go,
InstallDependencies). So a program's direct pins are in `requirements.in`, its lock is `requirements.lock`, and its
`requirements.txt` holds only `-r requirements.lock` (PULUMI_PROGRAMS): every requirement pip reads then carries
hashes, which puts pip in hash-checking mode, as `--require-hashes` does.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.11"
# requirements file -> lock, in the order they are written. The test suite's (with the program's), then the
# program's within it (CONSTRAINED: the suite tests the versions the program installs), the training-job example's
# within the program's, the e2e checks' client, the image's Python environment, checkov's, the ops scripts' and the
# policy pack's.
LOCKS = {
    "requirements-dev.txt": "requirements-dev.lock",
    "requirements.in": "requirements.lock",
    "examples/training-job/requirements.in": "examples/training-job/requirements.lock",
    "e2e/requirements.txt": "e2e/requirements.lock",
    "requirements-image.txt": "requirements-image.lock",
    "requirements-checkov.txt": "requirements-checkov.lock",
    "requirements-ops.txt": "requirements-ops.lock",
    "policy/requirements.txt": "policy/requirements.lock",
}
# The Pulumi programs whose environment the CLI installs from requirements.txt (see above): that file -> the lock it
# names, its only requirement. provider/ and examples/python-platform/ install this checkout ('..'), a directory,
# which pip's hash-checking mode refuses: they keep direct pins (docs/ci.md, Locked environments).
PULUMI_PROGRAMS = {
    "requirements.txt": "requirements.lock",
    "examples/training-job/requirements.txt": "examples/training-job/requirements.lock",
}


def old_mlflow_locks() -> dict[str, tuple[str, ...]]:
    """lock file -> pins, for the MLflow releases the upgrade tests start from (tests/runtime/old_mlflow.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from runtime.old_mlflow import UPGRADE_FROM, lock_file

    return {str(lock_file(version).relative_to(ROOT)): pins for version, pins in UPGRADE_FROM.items()}


# requirements file -> the lock it is resolved within (paths from the repository's root).
CONSTRAINED = {
    "requirements.in": "requirements-dev.lock",
    "examples/training-job/requirements.in": "requirements.lock",
}


def compile_lock(output: str, source: str, stdin: str | None = None) -> None:
    """`uv pip compile` of `source` (a file, or '-' with `stdin`) into `output`, run from the file's directory so the
    lock's header names it as the Makefile does."""
    directory = (ROOT / output).parent
    constraint = [os.path.relpath(ROOT / CONSTRAINED[source], directory)] if source in CONSTRAINED else []
    # uv found from here: `make lock`'s PATH names .venv/bin relative to the root, not to `directory`.
    uv = shutil.which("uv")
    command = [os.path.abspath(uv) if uv else "uv", "pip", "compile", Path(source).name if source != "-" else "-",
               "--generate-hashes", "--universal", "--python-version", PYTHON_VERSION, "--no-annotate", "--quiet",
               *(["--constraint", *constraint] if constraint else []), "-o", Path(output).name]
    subprocess.run(command, cwd=directory, input=stdin, text=True, check=True)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None).parse_args(argv)
    for source, output in LOCKS.items():
        compile_lock(output, source)
    for output, pins in old_mlflow_locks().items():
        compile_lock(output, "-", stdin="\n".join(pins) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
