"""The scale-out benchmark's section of REPORT.md, from scale_out.json (bench/scale_out.py)."""

import re
from typing import Any

from bench.growth_report import cell
from bench.stats import percentile


def error_kind(error: str) -> str:
    """A client's failure as the call and what the server or the connection did: 'runs/log-batch: HTTP 503'."""
    call = re.search(r"/api/2\.0/mlflow/([\w/-]+)", error)
    status = re.search(r"too many (\d{3}) error responses|HTTP (\d{3})|status code (\d{3})", error)
    what = (f"HTTP {next(g for g in status.groups() if g)}" if status
            else "timed out" if "timed out" in error.lower() else error.split(": ", 2)[-1][:120])
    return f"{call.group(1)}: {what}" if call else what


def scale_out_section(result: dict[str, Any]) -> list[str]:
    groups: list[tuple[int, str]] = []
    for run in result["runs"]:
        if (run["replicas"], run["path"]) not in groups:
            groups.append((run["replicas"], run["path"]))
    runs = {g: [r for r in result["runs"] if (r["replicas"], r["path"]) == g] for g in groups}

    def row(label: str, figure: Any, digits: int = 1) -> str:
        return f"| {label} | " + " | ".join(cell(runs[group], figure, digits) for group in groups) + " |"

    errors = [f"- {replicas} replicas, {path}: " + "; ".join(sorted({error_kind(e) for run in runs[(replicas, path)]
                                                                      for e in run["first_errors"]}))
              for replicas, path in groups if any(run["errors"] for run in runs[(replicas, path)])]
    return [
        "## Scale-out: more server pods than the database's connections allow",
        "",
        f"Run `{result['command']}` on {result['started']} ({result['machine']}). A PostgreSQL with max_connections "
        f"{result['max_connections']}; each replica is a declared server process (2 workers, the dev stack's pools), "
        f"driven by {result['clients']} concurrent MLflow clients whose rounds are a training job's writes (create_run, "
        "log_metric, log_batch of 50 metrics and 5 params, search_runs by tag, set_terminated), spread over the "
        "replicas, with the client's retries off, a request's timeout "
        f"{result.get('request_timeout_s', 120)} s and no round started after {result.get('budget_s', 600)} s "
        "(bench/scale_out.py, runtime/pooled_load.py). `pooled`: through "
        f"Debian's PgBouncer running the config the program renders (transaction mode, pool {result['pool_size']} per "
        "database); `direct`: the same servers straight to PostgreSQL. Each cell is the median [min-max] over "
        f"{result['reps']} repetition(s).",
        *(["", f"Conditions: {result['conditions']}"] if result.get("conditions") else []),
        "",
        "| Figure | " + " | ".join(f"{replicas} replicas, {path}" for replicas, path in groups) + " |",
        "| --- | " + " | ".join("---" for _ in groups) + " |",
        "| `pulumi preview` (connection budget) | " + " | ".join(
            "accepted" if result["preview"][str(replicas)][path] == "accepted" else "refused"
            for replicas, path in groups) + " |",
        row("rounds completed, of " + str(result["clients"] * result["runs"][0]["rounds"]),
            lambda r: r["rounds_done"], 0),
        row("failed rounds (and servers that never became healthy)", lambda r: r["errors"], 0),
        row("rounds per second", lambda r: r["rounds_per_s"], 2),
        row("round p50, ms", lambda r: percentile(r["round_ms"], 50) if r["round_ms"] else None),
        row("round p95, ms", lambda r: percentile(r["round_ms"], 95) if r["round_ms"] else None),
        row("peak app connections at PostgreSQL", lambda r: r["peak_connections"], 0),
        "",
        *(["What failed (first errors of each repetition):", "", *errors, ""] if errors else []),
        *[f"Preview of {replicas} replicas, {path}: {verdict}" for replicas, verdicts in result["preview"].items()
          for path, verdict in verdicts.items() if verdict != "accepted"],
        "",
    ]
