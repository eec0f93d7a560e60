"""The Python environment of the image the server runs in, for the processes the runtime layer starts.

The declared server, migration and sidecars run from a virtualenv made from requirements-image.lock
(`make image-env`, path in MLFLOW_PLATFORM_IMAGE_ENV), not from the test suite's: the image's
uvicorn[standard] brings uvloop and httptools, which change the server's latency and throughput,
and its google-cloud-storage needs a protobuf the Pulumi SDK refuses.
"""

import hashlib
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMAGE_ENV = "MLFLOW_PLATFORM_IMAGE_ENV"
# Packages whose absence changes how the server behaves or makes a feature fail, by import name:
# uvicorn --loop/--http auto pick uvloop/httptools; psycopg2 is the declared driver; boto3 the S3
# client; prometheus_flask_exporter serves --expose-prometheus; jwt the identity module; fastapi,
# slowapi and tiktoken the AI gateway; pyarrow datasets and tracing exports; pymysql the MySQL driver.
BEHAVIOUR_PACKAGES = ("uvloop", "httptools", "psycopg2", "pymysql", "boto3", "prometheus_flask_exporter", "jwt", "fastapi",
                      "slowapi", "tiktoken", "pyarrow", "flask_wtf", "azure.identity", "google.cloud.storage")


def cached_env_bin(variable: str, requirements: str, prefix: str) -> Path | None:
    """The bin directory of a virtualenv the Makefile builds from a lock file (its path in `variable`, else
    where make puts it: ~/.cache, keyed by the file's content); None when it is not built."""
    digest = hashlib.sha256((ROOT / requirements).read_bytes()).hexdigest()[:16]
    root = Path(os.environ.get(variable) or Path.home() / ".cache" / "mlflow-platform" / f"{prefix}-{digest}")
    return root / "bin" if (root / ".installed").exists() else None


def image_bin() -> Path | None:
    """The image environment's bin directory; None when it is not there (the reason: unavailable_reason())."""
    return cached_env_bin(IMAGE_ENV, "requirements-image.lock", "image-env")


def required_image_bin() -> Path:
    """The image environment's bin directory; an error naming the fix when it is missing."""
    bin_dir = image_bin()
    if bin_dir is None:
        raise RuntimeError(unavailable_reason())
    return bin_dir


def unavailable_reason() -> str | None:
    if image_bin() is None:
        return (f"the image's Python environment is missing: run `make image-env` and set {IMAGE_ENV} to it "
                "(make test does both)")
    return None


def missing_packages(bin_dir: Path) -> list[str]:
    """The BEHAVIOUR_PACKAGES the environment cannot import."""
    script = ("import importlib.util, sys\n"
              "def missing(name):\n"
              "    try:\n"
              "        return importlib.util.find_spec(name) is None\n"
              "    except ModuleNotFoundError:\n"  # a dotted name whose parent is missing
              "        return True\n"
              "print('\\n'.join(n for n in sys.argv[1:] if missing(n)))")
    result = subprocess.run([str(bin_dir / "python"), "-c", script, *BEHAVIOUR_PACKAGES], capture_output=True,
                            text=True, check=True, timeout=120)
    return result.stdout.split()


def describe(bin_dir: Path) -> dict[str, object]:
    """What the benchmark's report states: the loop uvicorn's `--loop auto` picks there, and the versions that matter."""
    script = ("import importlib.metadata as m, importlib.util as u, json\n"
              "names = ['mlflow', 'uvicorn', 'uvloop', 'httptools', 'psycopg2-binary', 'SQLAlchemy', 'Flask',"
              " 'fastapi', 'starlette']\n"
              "print(json.dumps({'event_loop': 'uvloop' if u.find_spec('uvloop') else 'asyncio',"
              " 'versions': {n: m.version(n) for n in names}}))")
    result = subprocess.run([str(bin_dir / "python"), "-c", script], capture_output=True, text=True, check=True,
                            timeout=120)
    return dict(json.loads(result.stdout))
