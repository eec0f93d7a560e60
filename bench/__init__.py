"""Benchmark of the MLflow server as this stack deploys it, against MLflow's defaults (see REPORT.md)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The benchmark starts servers with the runtime tests' extraction of the declared containers.
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
