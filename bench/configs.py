"""The server configurations compared side by side.

(a) and (b) are what the stack declares (extracted from the program under mocks, as the runtime tests do);
(c) is `mlflow server` with its defaults; (d) is the original workstream's setup (4 workers, job runner on);
(e) is the stack with one worker per pod, its default before the image's environment was measured, which is
what the default of 2 workers is derived against.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from bench import ROOT
from harness import run_program
from runtime.platform import Platform, RunningServer


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
        return platform.start_plain_server(name, port, extra_args)

    return start


CONFIGS = [
    ServerConfig("stack-dev", "(a) this stack, dev configuration", True, _stack),
    ServerConfig("stack-prod", "(b) this stack, prod sizing (one pod)", True, _stack),
    ServerConfig("mlflow-defaults", "(c) `mlflow server` defaults", False, _plain([])),
    ServerConfig("workstream", "(d) original workstream: 4 workers, job runner, 1 GiB limit", False, _plain(["--workers", "4"])),
    ServerConfig("stack-1-worker", "(e) this stack, dev configuration with 1 worker per pod", True, _stack),
]
BASELINE = "mlflow-defaults"
WORKSTREAM_MEMORY_LIMIT = 1024**3


def program_for(config: ServerConfig) -> Any:
    overrides = {"stack-prod": prod_sizing(), "stack-1-worker": {"serverWorkers": 1}}
    return run_program("dev", overrides.get(config.name, {}))
