"""How many database connections the MLflow server can open at its peak.

Measured on MLflow 3.17.2 (see tests/runtime and bench/): every server process keeps one SQLAlchemy
engine for the tracking store and one for the model registry, each with its own pool, and the
`mlflow server` wrapper process checks the schema through both before it starts the workers.

With a pooler (PgBouncer in transaction mode, mlflow_postgres/pooler.py) the server's pools connect to it, and
PostgreSQL sees only what the pooler opens: its pods (one more during a rollout) x pool size x the two databases. The
server's pools then count against each pooler pod's max_client_conn instead (the Service may send them all to one).
"""

from dataclasses import dataclass

from mlflow_platform.mlflow_postgres.args import ConnectionPooler

ENGINES_PER_PROCESS = 2
# The wrapper serves no requests: one connection per engine, from its start-up check, stays in its pools.
WRAPPER_CONNECTIONS = ENGINES_PER_PROCESS
# uvicorn runs MLflow's Flask app in anyio's worker threads: at most 40 requests per worker at once.
REQUEST_THREADS_PER_WORKER = 40
# log_batch keeps its session's connection while its nested writes check out a second one. With fewer
# connections per engine than this, concurrent log_batch calls can each hold one and all wait for a second
# until SQLAlchemy's 30 s pool timeout (measured: 3 + 2 failed at 8 clients, 5 + 10 at 32; see bench/FINDINGS.md).
MIN_CONNECTIONS_PER_ENGINE = REQUEST_THREADS_PER_WORKER + 1
# PostgreSQL keeps these for superusers (RDS 2 more for rds_superuser); the application cannot use them.
SUPERUSER_RESERVED_CONNECTIONS = 3
RDS_RESERVED_CONNECTIONS = SUPERUSER_RESERVED_CONNECTIONS + 2
# MySQL and MariaDB take nothing from max_connections: they admit one connection beyond it, for accounts with
# CONNECTION_ADMIN or SUPER (MySQL 8.4 Reference Manual, B.3.2.5 "Too many connections",
# https://dev.mysql.com/doc/refman/8.4/en/too-many-connections.html; MariaDB, "SUPER Privilege": "create one extra
# connection if max_connections has been reached"). The application's user may use all max_connections.
MYSQL_RESERVED_CONNECTIONS = 0
# The migration Job opens one connection at a time.
MIGRATION_CONNECTIONS = 1
# A rollout adds one pod over the count (maxSurge 1, maxUnavailable 0), also at the autoscaler's maximum.
SURGE_PODS = 1
# postgres_exporter keeps two handles of one connection each (cmd/postgres_exporter/server.go NewServer and
# collector/instance.go setup: SetMaxOpenConns(1)).
EXPORTER_CONNECTIONS = 2
# The backup CronJob's pg_dump (custom format, no -j) uses one.
BACKUP_CONNECTIONS = 1
# The gc CronJob (gc.py): one connection for each store it opens (tracking, jobs, workspaces), pools of one.
GC_CONNECTIONS = 3
# Huey consumers that `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true` starts in the jobs pod.
JOB_RUNNER_PROCESSES = 7
# The jobs pod runs one uvicorn worker (jobs.py).
JOBS_POD_WORKERS = 1


@dataclass(frozen=True)
class ConnectionBudget:
    max_replicas: int
    workers: int
    pool_size: int
    max_overflow: int
    job_execution: bool
    """One jobs pod besides the API pods (jobs.py); it is replaced, never surged (Recreate)."""
    exporter: bool = False
    """postgres_exporter next to an in-cluster database."""
    backup: bool = False
    """The in-cluster backup CronJob."""
    gc: bool = False
    """The gc CronJob."""
    reserved: int = SUPERUSER_RESERVED_CONNECTIONS
    pooler: ConnectionPooler | None = None
    """PgBouncer between the server (jobs pod, gc) and the database: the database then sees the pooler's connections."""

    def _pod(self, processes: int) -> int:
        return processes * ENGINES_PER_PROCESS * (self.pool_size + self.max_overflow) + WRAPPER_CONNECTIONS

    @property
    def per_pod(self) -> int:
        return self._pod(self.workers)

    @property
    def jobs_pod(self) -> int:
        return self._pod(JOBS_POD_WORKERS + JOB_RUNNER_PROCESSES) if self.job_execution else 0

    @property
    def direct_gc(self) -> bool:
        return self.gc and self.pooler is None

    @property
    def others(self) -> int:
        """What connects to the database itself besides the server: the migration Job, and the exporter, the backup and
        gc (unless it goes through the pooler) when there are."""
        return (MIGRATION_CONNECTIONS + (EXPORTER_CONNECTIONS if self.exporter else 0)
                + (BACKUP_CONNECTIONS if self.backup else 0) + (GC_CONNECTIONS if self.direct_gc else 0))

    @property
    def servers(self) -> int:
        """What the server's pods (one more during a rollout) and the jobs pod may open at once."""
        return (self.max_replicas + SURGE_PODS) * self.per_pod + self.jobs_pod

    @property
    def pooled_clients(self) -> int:
        """With a pooler: the client connections it may be asked for (the server's, the jobs pod's and gc's)."""
        return self.servers + (GC_CONNECTIONS if self.gc else 0)

    @property
    def total(self) -> int:
        """What the database may be asked for at once."""
        return (self.pooler.server_connections() if self.pooler else self.servers) + self.others

    def pooler_problem(self) -> str | None:
        """Why one pooler pod may refuse the server's connections (max_client_conn), or None."""
        if self.pooler is None or self.pooled_clients <= self.pooler.max_client_connections:
            return None
        return (f"the server's pools may open {self.pooled_clients} connections ({self._servers_text()}"
                + (f" + {GC_CONNECTIONS} gc" if self.gc else "") + "), and the Service may send them all to one "
                f"PgBouncer pod, which accepts {self.pooler.max_client_connections} (max_client_conn)")

    def fits(self, max_connections: int) -> bool:
        return self.total <= max_connections - self.reserved

    def _servers_text(self) -> str:
        jobs = (f" + {self.jobs_pod} jobs pod ({JOBS_POD_WORKERS} worker + {JOB_RUNNER_PROCESSES} job runner "
                "processes, the same pools)" if self.job_execution else "")
        return (f"({self.max_replicas} + {SURGE_PODS} during a rollout) pod(s) x ({self.workers} workers x "
                f"{ENGINES_PER_PROCESS} engines x (pool {self.pool_size} + overflow {self.max_overflow}) + "
                f"{WRAPPER_CONNECTIONS} wrapper){jobs}")

    def explain(self, max_connections: int) -> str:
        others = " + ".join([f"{MIGRATION_CONNECTIONS} migration",
                             *([f"{EXPORTER_CONNECTIONS} exporter"] if self.exporter else []),
                             *([f"{BACKUP_CONNECTIONS} backup"] if self.backup else []),
                             *([f"{GC_CONNECTIONS} gc"] if self.direct_gc else [])])
        limit = (f"max_connections {max_connections} leaves {max_connections - self.reserved} after "
                 f"{self.reserved} reserved superuser slots" if self.reserved
                 else f"max_connections is {max_connections} (the server's one extra connection is for admins)")
        users = (f"the pooler's ({self.pooler.replicas} + {SURGE_PODS} during a rollout) pod(s) x pool "
                 f"{self.pooler.pool_size} x 2 databases (mlflow, mlflow_auth)" if self.pooler else self._servers_text())
        return f"{users} + {others} = {self.total} connections, but {limit}"


def pool_problem(pool_size: int, max_overflow: int) -> str | None:
    if pool_size + max_overflow >= MIN_CONNECTIONS_PER_ENGINE:
        return None
    return (f"pool {pool_size} + overflow {max_overflow} = {pool_size + max_overflow} connections per engine; at least "
            f"{MIN_CONNECTIONS_PER_ENGINE} are needed: a worker runs up to {REQUEST_THREADS_PER_WORKER} requests at once "
            "and each log_batch holds two connections, so with fewer, concurrent log_batch calls wait on each other "
            "until the 30 s pool timeout and fail")
