"""How many PostgreSQL connections the MLflow server can open at its peak.

Measured on MLflow 3.17.2 (see tests/runtime): every server process keeps one SQLAlchemy
engine for the tracking store and one for the model registry, each with its own pool,
and the `mlflow server` wrapper process initialises both before it starts the workers.
"""

from dataclasses import dataclass

ENGINES_PER_PROCESS = 2
# PostgreSQL keeps these for superusers (RDS 2 more for rds_superuser); the application cannot use them.
SUPERUSER_RESERVED_CONNECTIONS = 3
RDS_RESERVED_CONNECTIONS = SUPERUSER_RESERVED_CONNECTIONS + 2
# The migration Job opens one connection at a time.
MIGRATION_CONNECTIONS = 1
# Huey consumers that `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true` starts per pod.
JOB_RUNNER_PROCESSES = 7


@dataclass(frozen=True)
class ConnectionBudget:
    max_replicas: int
    workers: int
    pool_size: int
    max_overflow: int
    job_execution: bool
    reserved: int = SUPERUSER_RESERVED_CONNECTIONS

    @property
    def processes_per_pod(self) -> int:
        return self.workers + 1 + (JOB_RUNNER_PROCESSES if self.job_execution else 0)

    @property
    def per_pod(self) -> int:
        return self.processes_per_pod * ENGINES_PER_PROCESS * (self.pool_size + self.max_overflow)

    @property
    def total(self) -> int:
        return self.max_replicas * self.per_pod + MIGRATION_CONNECTIONS

    def fits(self, max_connections: int) -> bool:
        return self.total <= max_connections - self.reserved

    def explain(self, max_connections: int) -> str:
        return (
            f"{self.max_replicas} pod(s) x {self.processes_per_pod} processes (workers + wrapper"
            f"{' + job runner' if self.job_execution else ''}) x {ENGINES_PER_PROCESS} engines x "
            f"(pool {self.pool_size} + overflow {self.max_overflow}) + {MIGRATION_CONNECTIONS} migration "
            f"= {self.total} connections, but max_connections {max_connections} leaves "
            f"{max_connections - self.reserved} after {self.reserved} reserved superuser slots"
        )
