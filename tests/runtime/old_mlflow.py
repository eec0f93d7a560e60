"""Older MLflow releases, each in a virtualenv of its own, for the upgrade tests (tests/runtime/test_upgrades.py).

Users arrive from the last 2.x release, from the first 3.x release and from the minor before the pinned one. Each
is installed from its lock (tests/runtime/old-mlflow/<version>.lock, written by `make lock` from the pins below, with
hashes) into ~/.cache/mlflow-platform/mlflow-<version>-<hash of its lock>: outside the clone, so a fresh checkout
reuses it, and apart from the test suite's environment. `make old-mlflow-envs` runs this module to build the missing
ones.

    python tests/runtime/old_mlflow.py      # install every missing environment
"""

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

# The releases an upgrade starts from, with what their server needs for the stack's stores: the PostgreSQL and MySQL
# drivers and the S3 client (their -full images carried them). Their other dependencies resolve as that release declares,
# except where today's releases break them; 2.22 and 3.0 were built in May-June 2025, with what was current then:
# - SQLAlchemy 2.0: they import FallbackAsyncAdaptedQueuePool, which 2.1 removed (they allow any version below 3);
# - OpenTelemetry 1.34: with 1.45 their tracer ends spans but never exports a trace (measured: no trace, no error);
#   fastapi is held back with it (0.165 wants OpenTelemetry 1.44 or later).
MID_2025 = ("SQLAlchemy==2.0.41", "alembic==1.16.1", "opentelemetry-api==1.34.1", "opentelemetry-sdk==1.34.1",
            "opentelemetry-semantic-conventions==0.55b1", "fastapi==0.115.12")
UPGRADE_FROM: dict[str, tuple[str, ...]] = {
    # the last 2.x release
    "2.22.5": ("mlflow==2.22.5", "psycopg2-binary==2.9.13", "PyMySQL==1.2.4", "boto3==1.44.5", *MID_2025),
    # the first 3.x release
    "3.0.0": ("mlflow==3.0.0", "psycopg2-binary==2.9.13", "PyMySQL==1.2.4", "boto3==1.44.5", *MID_2025),
    # the minor before the pinned 3.17
    "3.16.1": ("mlflow==3.16.1", "psycopg2-binary==2.9.13", "PyMySQL==1.2.4", "boto3==1.44.5"),
}
CACHE = Path.home() / ".cache" / "mlflow-platform"
LOCKS = Path(__file__).resolve().parent / "old-mlflow"


def lock_file(version: str) -> Path:
    return LOCKS / f"{version}.lock"


def env_dir(version: str) -> Path:
    digest = hashlib.sha256(lock_file(version).read_bytes()).hexdigest()[:12]
    return CACHE / f"mlflow-{version}-{digest}"


def old_bin(version: str) -> Path | None:
    """The release's bin directory; None when its environment is not built."""
    root = env_dir(version)
    return root / "bin" if (root / ".installed").exists() else None


def unavailable_reason(version: str) -> str | None:
    if old_bin(version) is None:
        return f"MLflow {version}'s environment is missing: run `make old-mlflow-envs` (make test does)"
    return None


def install(version: str) -> None:
    root = env_dir(version)
    venv.create(root, clear=True, with_pip=True)
    subprocess.run([str(root / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--require-hashes",
                    "-r", str(lock_file(version))], check=True)
    (root / ".installed").touch()


if __name__ == "__main__":
    for release in UPGRADE_FROM:
        if old_bin(release) is None:
            print(f"installing MLflow {release} into {env_dir(release)}", file=sys.stderr)
            install(release)
