"""Where checkov is: its own virtualenv (`make checkov-env`, path in MLFLOW_PLATFORM_CHECKOV_ENV), because it pins
boto3 and other packages to versions the program's environment cannot take (requirements-checkov.txt)."""

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_ENV = "MLFLOW_PLATFORM_CHECKOV_ENV"


def checkov_bin() -> Path | None:
    """checkov's executable; None when its environment is not built."""
    digest = hashlib.sha256((ROOT / "requirements-checkov.txt").read_bytes()).hexdigest()[:16]
    root = Path(os.environ.get(CHECKOV_ENV) or Path.home() / ".cache" / "mlflow-platform" / f"checkov-{digest}")
    return root / "bin" / "checkov" if (root / ".installed").exists() else None
