"""`python -m bench --scale-out`: more server pods than the database's connections allow, with and without the pooler.

A PostgreSQL with max_connections MAX_CONNECTIONS serves every replica count twice in each repetition: through Debian's
PgBouncer with the config the program renders for `databasePooler` (transaction mode, POOL_SIZE per database), then
straight, as a stack without the pooler would run them. The load is tests/runtime/test_pooler.py's (runtime.pooled_load):
CLIENTS concurrent MLflow clients, each round a training job's writes (create_run, log_metric, log_batch, search_runs by
tag, set_terminated) spread over the replicas, with MLflow's client retries off so every failure shows.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

from harness import run_program
from mlflow_platform.mlflow_postgres import ConnectionPooler
from runtime.platform import local_platform
from runtime.pooled_load import (
    CLIENTS,
    MAX_CONNECTIONS,
    POOL_SIZE,
    Load,
    drive,
    pooled_stack,
    route_servers,
    running_pgbouncer,
)
from runtime.services import PrivatePostgres
from settings import ConfigError

# No round starts after this; a request gives up after REQUEST_TIMEOUT_S (MLflow's client: 120 s by default).
BUDGET_S = 90
REQUEST_TIMEOUT_S = 30


def preview_verdict(replicas: int, pooler: bool) -> str:
    """What `pulumi preview` says of this layout: the connection budget's verdict."""
    try:
        run_program("dev", pooled_stack(replicas, pooler))
    except ConfigError as err:
        problem = next(line for line in str(err).splitlines() if "postgresMaxConnections" in line)
        return "refused: " + problem.strip().removeprefix("- ").removeprefix("mlflow-platform:")
    return "accepted"


def _record(path: str, load: Load) -> dict[str, Any]:
    return {"path": path, "replicas": load.replicas, "clients": load.clients, "rounds": load.rounds,
            "rounds_done": len(load.round_ms), "seconds": round(load.seconds, 2),
            "rounds_per_s": round(load.rounds_per_s, 3),
            "round_ms": [round(ms, 1) for ms in load.round_ms], "errors": len(load.errors),
            "first_errors": load.errors[:3], "peak_connections": load.peak_connections}


def run_scale_out(replica_counts: list[int], rounds: int, reps: int, out: Path, scratch: Path, machine: str,
                  command: str) -> dict[str, Any]:
    """Each repetition: a fresh PostgreSQL and migration, then every replica count pooled, then direct;
    scale_out.json written after each, so a stopped run keeps them."""
    result: dict[str, Any] = {
        "command": command, "machine": machine, "reps": reps, "max_connections": MAX_CONNECTIONS,
        "pool_size": POOL_SIZE, "clients": CLIENTS, "budget_s": BUDGET_S, "request_timeout_s": REQUEST_TIMEOUT_S,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "preview": {str(r): {"pooled": preview_verdict(r, True), "direct": preview_verdict(r, False)}
                    for r in replica_counts},
        "runs": []}
    program = run_program("dev", pooled_stack(max(replica_counts)))
    pooler = ConnectionPooler(replicas=1, pool_size=POOL_SIZE)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(REQUEST_TIMEOUT_S)
    for rep in range(reps):
        postgres = PrivatePostgres(password="postgres-admin-password", settings={"max_connections": str(MAX_CONNECTIONS)})
        try:
            workdir = scratch / f"scale-out-{rep}"
            workdir.mkdir()
            with local_platform(program, postgres.server, workdir) as platform:
                assert platform.migrate().returncode == 0
                with running_pgbouncer(platform, postgres, pooler) as port:
                    for replicas in replica_counts:
                        for path, target in (("pooled", port), ("direct", postgres.port)):
                            print(f"scale-out rep {rep + 1}/{reps}: {replicas} replicas, {path}", flush=True)
                            route_servers(platform, target)
                            load = drive(platform, postgres, f"{path}-{replicas}-{rep}", replicas, CLIENTS, rounds,
                                         BUDGET_S)
                            result["runs"].append({"rep": rep, **_record(path, load)})
                            (out / "scale_out.json").write_text(json.dumps(result, indent=1))
        finally:
            postgres.stop()
    return result
