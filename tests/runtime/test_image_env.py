"""The runtime layer runs the server in the image's Python environment, not a smaller install.

ghcr.io/mlflow/mlflow:v3.17.2-full installs mlflow[extras,azure,db,gateway,genai,auth] (MLflow's
docker/Dockerfile.full). Its uvicorn[standard] brings uvloop, which sets TCP_NODELAY on every
connection: without it, several workers per pod each wait ~40 ms per kept-alive request for a
delayed ACK (uvicorn#3149), so every latency number depends on which loop the workers run.
"""

from pathlib import Path

import pytest

from runtime.image_env import image_bin, missing_packages
from runtime.platform import RunningServer
from runtime.services import session_pids

pytestmark = pytest.mark.runtime


def loaded_libraries(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "maps").read_text()
    except OSError:
        return ""


def test_every_package_that_changes_the_servers_behaviour_is_installed() -> None:
    bin_dir = image_bin()
    assert bin_dir is not None
    assert missing_packages(bin_dir) == []


def test_the_declared_server_runs_its_workers_on_uvloop_with_httptools(server: RunningServer) -> None:
    """What uvicorn's --loop auto and --http auto pick when the image's packages are there."""
    maps = {pid: loaded_libraries(pid) for pid in session_pids(server.process.pid)}
    on_uvloop = [pid for pid, text in maps.items() if "uvloop/loop." in text]
    assert on_uvloop, "no process of the server loaded uvloop"
    assert all("httptools/parser/parser." in maps[pid] for pid in on_uvloop)
