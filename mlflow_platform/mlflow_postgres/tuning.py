"""PostgreSQL's settings for MLflow's queries, derived from the growth benchmark (bench/REPORT.md, "Growth").

What MLflow asks of its database: `metrics`, `latest_metrics`, `params` and `tags` only grow (log_batch inserts; rows
are deleted only by `mlflow gc`), the UI's runs page joins runs with their latest metrics, params and tags, and a
metric's history reads one run's rows by index. So: enough shared buffers to keep the indexes of the hot tables in
memory, planner costs for SSD storage (gp3 on EKS, local SSDs under kind), and autovacuum that visits insert-only
tables often enough for the visibility map, which lets those reads be index-only scans.

The in-cluster server gets them as `-c` arguments, scaled by its memory limit; RDS gets the same rules in its
parameter group, the memory ones as formulas of DBInstanceClassMemory so they follow the instance class.
"""

from mlflow_platform.validation import parse_quantity

MIB = 2**20

# Storage: random reads cost little more than sequential ones on SSDs (PostgreSQL docs, "Planner Cost Constants":
# lower random_page_cost for SSDs), and SSDs serve many requests at once (effective_io_concurrency).
PLANNER = {"random_page_cost": "1.1", "effective_io_concurrency": "200"}
# Autovacuum for insert-only tables (PostgreSQL 13+: autovacuum_vacuum_insert_scale_factor) and statistics that keep
# up with tables of millions of rows: a fifth of the defaults' scale factors (0.2, 0.1, 0.2).
AUTOVACUUM = {"autovacuum_vacuum_scale_factor": "0.05", "autovacuum_analyze_scale_factor": "0.02",
              "autovacuum_vacuum_insert_scale_factor": "0.05"}
# Memory for each sort or hash of a query before it spills to disk (default 4 MB). At 10 M metric rows the benchmark's
# queries wrote 292 MiB of temporary files with 4 MB and 218 MiB with 16 MB (bench/REPORT.md, "Growth"): 16 MB helps,
# and a connection uses it only while such a query runs, so even the in-cluster default of 400 connections cannot
# all claim it at once. Which query spills is not yet identified.
WORK_MEM_MIB = 16


def postgres_settings(memory_limit: str, max_connections: int) -> dict[str, str]:
    """The in-cluster server's settings for a pod whose memory limit is `memory_limit` (a Kubernetes quantity)."""
    memory = int(parse_quantity(memory_limit))
    return {
        "max_connections": str(max_connections),
        # A quarter of the memory for PostgreSQL's own cache, the rest left to the page cache (PostgreSQL docs,
        # "Resource Consumption": 25% is a reasonable starting value), which the pod's memory limit also counts.
        "shared_buffers": f"{max(memory // 4 // MIB, 32)}MB",
        "effective_cache_size": f"{max(memory // 2 // MIB, 64)}MB",
        "maintenance_work_mem": f"{min(max(memory // 16 // MIB, 16), 1024)}MB",
        "work_mem": f"{WORK_MEM_MIB}MB",
        **PLANNER,
        **AUTOVACUUM,
    }


def rds_parameters(max_connections: int) -> dict[str, str]:
    """The same rules for RDS. RDS's defaults already scale the caches with the class (shared_buffers
    {DBInstanceClassMemory/32768} 8 kB pages: a quarter; effective_cache_size {DBInstanceClassMemory/16384}: half), so
    only what differs from its defaults is set (work_mem in kB, maintenance_work_mem a sixteenth, as in the cluster)."""
    return {
        "max_connections": str(max_connections),
        "work_mem": str(WORK_MEM_MIB * 1024),
        "maintenance_work_mem": "{DBInstanceClassMemory/16384}",
        **PLANNER,
        **AUTOVACUUM,
    }
