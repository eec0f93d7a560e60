"""databasePooler: several declared servers through Debian's PgBouncer, in transaction mode with the config the program
renders (mlflow_platform/mlflow_postgres/pooler.py), on a PostgreSQL whose max_connections the direct path cannot fit.

The migration Job runs as declared, on the owner's URI, straight to PostgreSQL (it needs one session: pooler.py); the
servers' URI goes to PgBouncer. Concurrent MLflow clients (create_run, log_metric, log_batch, search_runs) must see no
error, and PostgreSQL must never see more connections from them than the pooler's pool. The same replicas without the
pooler are refused by the preview-time budget; run anyway, with the same load, they take more connections (reported).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import ProgramRun, run_program
from mlflow_platform.mlflow_postgres import ConnectionPooler
from mlflow_platform.mlflow_postgres.pooler import CONFIG_FILE, USERLIST_FILE, pgbouncer_ini, userlist
from runtime.fixtures import private_postgres_cluster, skip_or_fail
from runtime.platform import SECRET, URI_SECRET, Platform, local_platform
from runtime.pooled_load import (
    APP_USER,
    CLIENTS,
    MAX_CONNECTIONS,
    POOL_SIZE,
    app_password,
    drive,
    pgbouncer_binary,
    pooled_stack,
    route_servers,
    running_pgbouncer,
)
from runtime.services import PrivatePostgres
from settings import ConfigError

REPLICAS = 3
ROUNDS = 12


@pytest.fixture(scope="module")
def pooled_run() -> ProgramRun:
    return run_program("dev", pooled_stack(REPLICAS))


def test_the_same_replicas_without_the_pooler_are_refused_by_the_budget() -> None:
    """3 pods x (2 workers x 2 engines x 41 + 2) do not fit in 40 connections; the pooler's 2 x 8 x 2 do."""
    with pytest.raises(ConfigError, match=r"postgresMaxConnections: the MLflow server may open more connections.*"
                                          r"or set databasePooler true"):
        run_program("dev", pooled_stack(REPLICAS, pooler=False))


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
    PostgreSQL; the servers' URI pointed at it. Returns its port."""
    platform, cluster = pooled_platform
    pooler = ConnectionPooler(replicas=1, pool_size=POOL_SIZE)
    declared = declared_pooler_files(pooled_run)
    # What the cluster gets is this function's text for the declared database.
    assert declared[CONFIG_FILE] == pgbouncer_ini("mlflow-postgres.mlflow.svc.cluster.local", 5432,
                                                  ("mlflow", "mlflow_auth"), pooler, {})
    assert declared[USERLIST_FILE] == userlist({APP_USER: app_password(platform)})
    # The servers' URI as declared: the app role, sslmode=disable on this hop.
    uri = platform.cluster.secrets[URI_SECRET]
    assert uri.startswith(f"postgresql+psycopg2://{APP_USER}:") and uri.endswith("?sslmode=disable")
    with running_pgbouncer(platform, cluster, pooler) as port:
        route_servers(platform, port)
        yield port


def test_servers_through_pgbouncer_take_concurrent_load_without_error(
        pooled_platform: tuple[Platform, PrivatePostgres], pgbouncer: int, monkeypatch: pytest.MonkeyPatch) -> None:
    platform, cluster = pooled_platform
    first = platform.migrate()
    assert first.returncode == 0, first.stdout + first.stderr
    platform.assert_migrated()
    # Failures must show, not be retried away by MLflow's client.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # Past the connections, a server's engine retries with backoff and holds requests (runtime/pooled_load.py).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    pooled = drive(platform, cluster, "pooled", REPLICAS, CLIENTS, ROUNDS)
    assert pooled.errors == []
    assert len(pooled.run_ids) == CLIENTS * ROUNDS
    # PgBouncer opens at most the pool per database, whatever the servers' own pools hold.
    assert 0 < pooled.peak_connections <= POOL_SIZE * 2
    # The same servers and load straight to PostgreSQL: every process's pools open what its requests need (measured:
    # 35-37 of the 37 slots max_connections 40 leaves after the superusers').
    route_servers(platform, cluster.port)
    direct = drive(platform, cluster, "direct", REPLICAS, CLIENTS, ROUNDS, budget_s=60)
    assert direct.peak_connections > pooled.peak_connections
