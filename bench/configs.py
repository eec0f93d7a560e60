"""The four server configurations compared side by side.

(a) and (b) are what the stack declares (extracted from the program under mocks, as the runtime tests do);
(c) is `mlflow server` with its defaults; (d) is the original workstream's setup (4 workers, job runner on).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from bench import ROOT
from harness import run_program
from runtime.image_env import required_image_bin
from runtime.platform import Platform, RunningServer
from runtime.services import ManagedProcess, free_port, wait_until_healthy


@dataclass(frozen=True)
class ServerConfig:
    name: str
    description: str
    uses_migration_job: bool
    start: Callable[[Platform, str, int | None], RunningServer]


def prod_sizing() -> dict[str, Any]:
    """The server and pool keys Pulumi.prod.yaml sets, applied to one pod of the dev stack's server."""
    config = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    keys = ("serverWorkers", "serverJobExecution", "dbPoolSize", "dbMaxOverflow", "serverCpuRequest", "serverCpuLimit",
            "serverMemoryRequest", "serverMemoryLimit", "serverTmpSize")
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.split(":", 1)[1] in keys}


def _stack(platform: Platform, name: str, port: int | None) -> RunningServer:
    return platform.start_server(name, port=port)


def _plain(extra_args: list[str]) -> Callable[[Platform, str, int | None], RunningServer]:
    """`mlflow server` as people run it from the docs, with only storage and address given."""

    def start(platform: Platform, name: str, port: int | None) -> RunningServer:
        port = port or free_port()
        env = platform.cluster.environment(platform.container("kubernetes:apps/v1:Deployment", "mlflow"))
        store = {k: env[k] for k in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                      "AWS_DEFAULT_REGION")}
        uri = env["MLFLOW_BACKEND_STORE_URI"]
        argv = [str(required_image_bin() / "mlflow"), "server", "--backend-store-uri", uri,
                "--artifacts-destination", f"s3://{platform.bucket}/{platform.prefix}",
                "--host", "127.0.0.1", "--port", str(port), *extra_args]
        process_env = {"PATH": os.environ["PATH"], "HOME": str(platform.workdir), **store}
        process = ManagedProcess(argv, process_env, platform.workdir / f"{name}.log")
        server = RunningServer(f"http://127.0.0.1:{port}", port, argv, process_env, process,
                               platform.container("kubernetes:apps/v1:Deployment", "mlflow"))
        try:
            server.startup_seconds = wait_until_healthy(f"{server.url}/health", process, timeout=300)
        except BaseException:
            process.stop()
            raise
        return server

    return start


CONFIGS = [
    ServerConfig("stack-dev", "(a) this stack, dev configuration", True, _stack),
    ServerConfig("stack-prod", "(b) this stack, prod sizing (one pod)", True, _stack),
    ServerConfig("mlflow-defaults", "(c) `mlflow server` defaults", False, _plain([])),
    ServerConfig("workstream", "(d) original workstream: 4 workers, job runner, 1 GiB limit", False, _plain(["--workers", "4"])),
]
BASELINE = "mlflow-defaults"
WORKSTREAM_MEMORY_LIMIT = 1024**3


def program_for(config: ServerConfig) -> Any:
    return run_program("dev", prod_sizing()) if config.name == "stack-prod" else run_program("dev")
