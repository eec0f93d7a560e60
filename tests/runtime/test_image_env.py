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

pytestmark = pytest.mark.runtime


def session_pids(leader: int) -> list[int]:
    """Every process of the server's session (the wrapper, uvicorn's workers, anything they spawned)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader:  # the process group; ManagedProcess starts a new session
            pids.append(int(stat.parent.name))
    return pids


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
