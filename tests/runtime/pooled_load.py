"""Declared server processes under concurrent MLflow clients, straight to PostgreSQL or through Debian's PgBouncer
running the config the program renders (mlflow_platform/mlflow_postgres/pooler.py): the load of
tests/runtime/test_pooler.py and of the scale-out benchmark (`python -m bench --scale-out`)."""

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from mlflow_platform.mlflow_postgres import ConnectionPooler
from mlflow_platform.mlflow_postgres.pooler import CONFIG_FILE, POOLER_UID, USERLIST_FILE, pgbouncer_ini, userlist
from runtime.generated import with_address
from runtime.platform import ROLES_SECRET, URI_SECRET, Platform
from runtime.services import ManagedProcess, PrivatePostgres, free_port

APP_USER = "mlflow_app"
# The layout: a PostgreSQL smaller than one pod's direct pools (2 workers x 2 engines x 41), one PgBouncer pod.
MAX_CONNECTIONS = 40
POOL_SIZE = 8
# Fewer clients than the pool: MLflow's log_batch holds one connection while it takes a second (docs/performance.md).
CLIENTS = 6


def pooled_stack(replicas: int, pooler: bool = True) -> dict[str, Any]:
    """The stack's config for `replicas` server pods on that PostgreSQL, with or without the pooler."""
    return {"databasePooler": pooler, "databasePoolerReplicas": 1, "databasePoolerPoolSize": POOL_SIZE,
            "serverReplicas": replicas, "postgresMaxConnections": MAX_CONNECTIONS}


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


def app_password(platform: Platform) -> str:
    return platform.cluster.secrets[(ROLES_SECRET, "app-password")]


@contextmanager
def running_pgbouncer(platform: Platform, cluster: PrivatePostgres, pooler: ConnectionPooler) -> Iterator[int]:
    """Debian's pgbouncer with the component's config for the local PostgreSQL, as the pods run it; yields its port."""
    binary = pgbouncer_binary()
    assert binary, "pgbouncer is not installed (apt-get install -y pgbouncer)"
    port = free_port()
    # PgBouncer refuses to run as root: a directory its uid can read (pytest's are root's).
    directory = tempfile.mkdtemp(prefix="mlflow-rt-pgbouncer-", dir="/tmp")
    users, config = os.path.join(directory, USERLIST_FILE), os.path.join(directory, CONFIG_FILE)
    with open(users, "w") as out:
        out.write(userlist({APP_USER: app_password(platform)}))
    with open(config, "w") as out:
        out.write(pgbouncer_ini("127.0.0.1", cluster.port, (platform.database, f"{platform.database}_auth"), pooler, {},
                                listen_port=port, auth_file=users))
    # The uid the pods declare, which has no passwd entry (setpriv needs none).
    as_pooler = (["setpriv", f"--reuid={POOLER_UID}", f"--regid={POOLER_UID}", "--clear-groups"]
                 if os.geteuid() == 0 else [])
    if as_pooler:
        for path in (directory, users, config):
            os.chown(path, POOLER_UID, POOLER_UID)
    process = ManagedProcess([*as_pooler, binary, config], {"PATH": "/usr/sbin:/usr/bin:/bin"},
                             platform.workdir / f"pgbouncer-{port}.log")
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode != 0:
            assert process.alive() and time.monotonic() < deadline, process.log_tail()
            time.sleep(0.2)
        yield port
    finally:
        process.stop()
        shutil.rmtree(directory, ignore_errors=True)


def route_servers(platform: Platform, port: int) -> None:
    """Point the servers' declared URI (app role) at 127.0.0.1:port: PgBouncer's, or PostgreSQL's own."""
    platform.cluster.secrets[URI_SECRET] = with_address(platform.cluster.secrets[URI_SECRET],
                                                        f"{APP_USER}:{app_password(platform)}@127.0.0.1:{port}",
                                                        platform.database)


@dataclass
class Load:
    """What `drive` saw: every client's failures, the peak of the app role's connections at PostgreSQL, the runs
    written, and each completed round's duration."""
    replicas: int
    clients: int
    rounds: int
    errors: list[str] = field(default_factory=list)
    peak_connections: int = 0
    seconds: float = 0.0
    round_ms: list[float] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    @property
    def rounds_per_s(self) -> float:
        return len(self.round_ms) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        p50 = statistics.median(self.round_ms) if self.round_ms else 0.0
        return (f"{self.replicas} servers x 2 workers, {self.clients} clients x {self.rounds} rounds: "
                f"{len(self.round_ms)} rounds in {self.seconds:.1f} s ({self.rounds_per_s:.2f}/s, p50 {p50:.0f} ms), "
                f"{len(self.errors)} errors, peak app connections at PostgreSQL {self.peak_connections}"
                + (f"; first error: {self.errors[0]}" if self.errors else ""))


def client_rounds(urls: list[str], experiment_id: str, rounds: int, index: int, load: Load, stop_at: float) -> None:
    """One client's rounds across the servers, as a training job writes: create a run, log a metric, a batch of 50
    metrics and 5 params, find the run by tag, end it. No round starts after `stop_at` (time.monotonic())."""
    for round_ in range(rounds):
        began = time.monotonic()
        if began > stop_at:
            return
        try:
            client = MlflowClient(urls[(index + round_) % len(urls)])
            run_id = client.create_run(experiment_id, tags={"client": str(index)}).info.run_id
            client.log_metric(run_id, "loss", 1.0 / (round_ + 1), step=round_)
            now = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric("acc", i / 50, now, i) for i in range(50)],
                             params=[Param(f"p{i}", str(i)) for i in range(5)])
            found = client.search_runs([experiment_id], filter_string=f"tags.client = '{index}'",
                                       order_by=["metrics.loss DESC"], max_results=rounds)
            assert run_id in {r.info.run_id for r in found}
            client.set_terminated(run_id)
            load.round_ms.append(1000 * (time.monotonic() - began))
        except Exception as err:  # every failure counts, whatever raised it
            load.errors.append(f"client {index} round {round_}: {type(err).__name__}: {err}")


def drive(platform: Platform, cluster: PrivatePostgres, label: str, replicas: int, clients: int, rounds: int,
          budget_s: float = 600) -> Load:
    """`replicas` declared servers under `clients` concurrent clients, no round started after `budget_s`: a server
    short of connections retries its engine with backoff (mlflow/store/db/utils.py create_sqlalchemy_engine_with_retry:
    10 attempts over about 100 s) and holds requests meanwhile. Set MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 first, or
    MLflow's client retries failures away."""
    servers = [platform.start_server(name=f"{label}-{i}", wait=False) for i in range(replicas)]
    load = Load(replicas, clients, rounds)
    try:
        urls = []
        for index, server in enumerate(servers):
            try:
                urls.append(server.wait_healthy(timeout=300).url)
            except Exception as err:  # a server that cannot start (no connection left) is a result, not a crash
                load.errors.append(f"server {index} never became healthy: {type(err).__name__}: {err}")
        if not urls:
            return load
        experiment_id = MlflowClient(urls[0]).create_experiment(label)
        began = time.monotonic()
        threads = [threading.Thread(target=client_rounds, args=(urls, experiment_id, rounds, i, load, began + budget_s))
                   for i in range(clients)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            (count,), = cluster.server.query("postgres", "SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                                             APP_USER)
            load.peak_connections = max(load.peak_connections, int(count))
            time.sleep(0.1)
        load.seconds = time.monotonic() - began
        print(f"{label}: {load.summary()}", flush=True)
        if not load.errors and len(load.round_ms) == clients * rounds:
            runs = MlflowClient(urls[-1]).search_runs([experiment_id], max_results=clients * rounds + 1)
            assert all(len(r.data.params) == 5 and r.data.metrics["acc"] == 49 / 50 for r in runs)
            load.run_ids = [r.info.run_id for r in runs]
        return load
    finally:
        for server in servers:
            server.stop()
