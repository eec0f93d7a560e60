"""databasePooler: several declared servers through Debian's PgBouncer, in transaction mode with the config the program
renders (mlflow_platform/mlflow_postgres/pooler.py), on a PostgreSQL whose max_connections the direct path cannot fit.

The migration Job runs as declared, on the owner's URI, straight to PostgreSQL (it needs one session: pooler.py); the
servers' URI goes to PgBouncer. Concurrent MLflow clients (create_run, log_metric, log_batch, search_runs) must see no
error, and PostgreSQL must never see more connections from them than the pooler's pool. The same replicas without the
pooler are refused by the preview-time budget; run anyway, with the same load, they take more connections (reported).
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from harness import ProgramRun, run_program
from mlflow_platform.mlflow_postgres import ConnectionPooler
from mlflow_platform.mlflow_postgres.pooler import CONFIG_FILE, POOLER_UID, USERLIST_FILE, pgbouncer_ini, userlist
from runtime.fixtures import private_postgres_cluster, skip_or_fail
from runtime.generated import with_address
from runtime.platform import ROLES_SECRET, SECRET, URI_SECRET, Platform, local_platform
from runtime.services import ManagedProcess, PrivatePostgres, free_port
from settings import ConfigError

MAX_CONNECTIONS = 40
REPLICAS = 3
POOL_SIZE = 8
# Fewer clients than the pool: MLflow's log_batch holds one connection while it takes a second (docs/performance.md).
CLIENTS = 6
ROUNDS = 12
STACK: dict[str, Any] = {"databasePooler": True, "databasePoolerReplicas": 1, "databasePoolerPoolSize": POOL_SIZE,
                         "serverReplicas": REPLICAS, "postgresMaxConnections": MAX_CONNECTIONS}


@pytest.fixture(scope="module")
def pooled_run() -> ProgramRun:
    return run_program("dev", STACK)


def test_the_same_replicas_without_the_pooler_are_refused_by_the_budget() -> None:
    """3 pods x (2 workers x 2 engines x 41 + 2) do not fit in 40 connections; the pooler's 2 x 8 x 2 do."""
    with pytest.raises(ConfigError, match=r"postgresMaxConnections: the MLflow server may open more connections.*"
                                          r"or set databasePooler true"):
        run_program("dev", {**STACK, "databasePooler": False})


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


@pytest.fixture(scope="module")
def pooled_platform(pooled_run: ProgramRun,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, PrivatePostgres]]:
    if pgbouncer_binary() is None:
        skip_or_fail("pgbouncer is not installed (apt-get install -y pgbouncer)")
    with private_postgres_cluster(password="postgres-admin-password") as cluster:
        cluster.server.query("postgres", f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        cluster.restart()
        assert cluster.server.query("postgres", "SHOW max_connections") == [(str(MAX_CONNECTIONS),)]
        with local_platform(pooled_run, cluster.server, Path(tmp_path_factory.mktemp("pooler"))) as platform:
            yield platform, cluster


def declared_pooler_files(run: ProgramRun) -> dict[str, str]:
    secret = next(s for s in run.of_type(SECRET) if s.k8s_name == "mlflow-postgres-pooler")
    files: dict[str, str] = secret.plain_inputs["stringData"]
    return files


@pytest.fixture(scope="module")
def pgbouncer(pooled_run: ProgramRun, pooled_platform: tuple[Platform, PrivatePostgres]) -> Iterator[int]:
    """Debian's pgbouncer with the program's config, rendered by the component's own function for the local
    PostgreSQL; returns its port."""
    platform, cluster = pooled_platform
    pooler = ConnectionPooler(replicas=1, pool_size=POOL_SIZE)
    declared = declared_pooler_files(pooled_run)
    # What the cluster gets is this function's text for the declared database.
    assert declared[CONFIG_FILE] == pgbouncer_ini("mlflow-postgres.mlflow.svc.cluster.local", 5432,
                                                  ("mlflow", "mlflow_auth"), pooler, {})
    app_user, app_password = "mlflow_app", platform.cluster.secrets[(ROLES_SECRET, "app-password")]
    assert declared[USERLIST_FILE] == userlist({app_user: app_password})
    port = free_port()
    # PgBouncer refuses to run as root: a directory its uid can read (pytest's are root's).
    directory = Path(tempfile.mkdtemp(prefix="mlflow-rt-pgbouncer-", dir="/tmp"))
    (directory / USERLIST_FILE).write_text(userlist({app_user: app_password}))
    (directory / CONFIG_FILE).write_text(pgbouncer_ini(
        "127.0.0.1", cluster.port, (platform.database, f"{platform.database}_auth"), pooler, {}, listen_port=port,
        auth_file=str(directory / USERLIST_FILE)))
    # As the pods run it: the uid they declare, which has no passwd entry (setpriv needs none).
    as_pooler = (["setpriv", f"--reuid={POOLER_UID}", f"--regid={POOLER_UID}", "--clear-groups"]
                 if os.geteuid() == 0 else [])
    if as_pooler:
        for path in (directory, directory / USERLIST_FILE, directory / CONFIG_FILE):
            os.chown(path, POOLER_UID, POOLER_UID)
    process = ManagedProcess([*as_pooler, str(pgbouncer_binary()), str(directory / CONFIG_FILE)],
                             {"PATH": "/usr/sbin:/usr/bin:/bin"}, platform.workdir / "pgbouncer.log")
    deadline = time.monotonic() + 20
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode != 0:
        assert process.alive() and time.monotonic() < deadline, process.log_tail()
        time.sleep(0.2)
    # The servers' URI, as declared, to the local PgBouncer: the app role, sslmode=disable on this hop.
    uri = platform.cluster.secrets[URI_SECRET]
    assert uri.startswith("postgresql+psycopg2://mlflow_app:") and uri.endswith("?sslmode=disable")
    platform.cluster.secrets[URI_SECRET] = with_address(uri, f"mlflow_app:{app_password}@127.0.0.1:{port}",
                                                        platform.database)
    try:
        yield port
    finally:
        process.stop()
        shutil.rmtree(directory, ignore_errors=True)


def client_load(urls: list[str], experiment_id: str, errors: list[str], done: list[int], index: int) -> None:
    client = MlflowClient(urls[index % len(urls)])
    for round_ in range(ROUNDS):
        try:
            client = MlflowClient(urls[(index + round_) % len(urls)])
            run = client.create_run(experiment_id, tags={"client": str(index)})
            run_id = run.info.run_id
            client.log_metric(run_id, "loss", 1.0 / (round_ + 1), step=round_)
            now = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric("acc", i / 50, now, i) for i in range(50)],
                             params=[Param(f"p{i}", str(i)) for i in range(5)])
            found = client.search_runs([experiment_id], filter_string=f"tags.client = '{index}'",
                                       order_by=["metrics.loss DESC"], max_results=50)
            assert run_id in {r.info.run_id for r in found}
            client.set_terminated(run_id)
            done.append(1)
        except Exception as err:  # every failure counts, whatever raised it
            errors.append(f"client {index} round {round_}: {type(err).__name__}: {err}")


def drive(platform: Platform, cluster: PrivatePostgres, label: str) -> tuple[list[str], int, list[str]]:
    """REPLICAS declared servers under CLIENTS concurrent clients: the failures, the peak of the app role's connections
    PostgreSQL saw, and the experiment's run ids."""
    servers = [platform.start_server(name=f"{label}-{i}", wait=False) for i in range(REPLICAS)]
    try:
        for server in servers:
            server.wait_healthy(timeout=240)
        urls = [server.url for server in servers]
        experiment_id = MlflowClient(urls[0]).create_experiment(label)
        errors: list[str] = []
        done: list[int] = []
        peak = 0
        threads = [threading.Thread(target=client_load, args=(urls, experiment_id, errors, done, i))
                   for i in range(CLIENTS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            (count,), = cluster.server.query("postgres", "SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                                             "mlflow_app")
            peak = max(peak, int(count))
            time.sleep(0.1)
        print(f"{label}: {REPLICAS} servers x 2 workers, {CLIENTS} clients x {ROUNDS} rounds, {len(done)} rounds done "
              f"in {time.monotonic() - started:.1f} s, {len(errors)} errors, peak app connections at PostgreSQL {peak} "
              f"(pooler: {POOL_SIZE} per database, max_connections {MAX_CONNECTIONS})")
        runs = MlflowClient(urls[1]).search_runs([experiment_id], max_results=1000) if not errors else []
        assert all(len(r.data.params) == 5 and r.data.metrics["acc"] == 49 / 50 for r in runs)
        return errors, peak, [r.info.run_id for r in runs]
    finally:
        for server in servers:
            server.stop()


def test_servers_through_pgbouncer_take_concurrent_load_without_error(
        pooled_platform: tuple[Platform, PrivatePostgres], pgbouncer: int, monkeypatch: pytest.MonkeyPatch) -> None:
    platform, cluster = pooled_platform
    first = platform.migrate()
    assert first.returncode == 0, first.stdout + first.stderr
    platform.assert_migrated()
    # Failures must show, not be retried away by MLflow's client.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    errors, peak, runs = drive(platform, cluster, "pooled")
    assert errors == []
    assert len(runs) == CLIENTS * ROUNDS
    # PgBouncer opens at most the pool per database, whatever the servers' own pools hold.
    assert 0 < peak <= POOL_SIZE * 2
    # The same servers and load straight to PostgreSQL: every process's pools open what its requests need (measured:
    # 35-37 of the 37 slots max_connections 40 leaves after the superusers').
    platform.cluster.secrets[URI_SECRET] = with_address(platform.cluster.secrets[URI_SECRET],
                                                        f"mlflow_app:{platform.cluster.secrets[(ROLES_SECRET, 'app-password')]}"
                                                        f"@127.0.0.1:{cluster.port}", platform.database)
    direct_errors, direct_peak, _ = drive(platform, cluster, "direct")
    print(f"direct: peak {direct_peak} connections, {len(direct_errors)} errors"
          + (f", first: {direct_errors[0]}" if direct_errors else ""))
    assert direct_peak > peak
