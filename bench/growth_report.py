"""The growth benchmark's section of REPORT.md and its plot (growth.png), from growth.json."""

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Figure = Callable[[dict[str, Any]], float | None]

FIGURES: list[tuple[str, Figure]] = [
    ("database size, MiB", lambda r: r["database_mib"]),
    ("UI runs page: its calls in turn, p50 ms", lambda r: r["ui_runs_page"]["page_p50_ms"]),
    ("UI runs page: its calls in turn, p95 ms", lambda r: r["ui_runs_page"]["page_p95_ms"]),
    ("UI runs page: slowest call, p50 ms", lambda r: r["ui_runs_page"]["slowest_p50_ms"]),
    ("UI run page: its calls in turn, p50 ms", lambda r: r["ui_run_page"]["page_p50_ms"]),
    ("UI run page: its calls in turn, p95 ms", lambda r: r["ui_run_page"]["page_p95_ms"]),
    ("UI compare runs: its calls in turn, p50 ms", lambda r: r["ui_compare_runs"]["page_p50_ms"]),
    ("UI compare runs: its calls in turn, p95 ms", lambda r: r["ui_compare_runs"]["page_p95_ms"]),
    ("metric history of the long run, p50 ms", lambda r: r["metric_history_long_run"]["call_p50_ms"]),
    ("metric history of the long run, p95 ms", lambda r: r["metric_history_long_run"]["call_p95_ms"]),
    ("client search_runs with a filter, p50 ms", lambda r: r["client_search_runs_filtered"]["call_p50_ms"]),
    ("client search_runs with a filter, p95 ms", lambda r: r["client_search_runs_filtered"]["call_p95_ms"]),
    ("log_batch (1000 metrics) @8, p50 ms", lambda r: r["log_batch_1000@8"]["p50_ms"]),
    ("log_batch (1000 metrics) @8, p95 ms", lambda r: r["log_batch_1000@8"]["p95_ms"]),
    ("log_batch (1000 metrics) @8, metrics/s", lambda r: r["log_batch_1000@8"]["metrics_per_s"]),
    ("temporary files the queries above wrote", lambda r: r["database_stats"]["temp_files"]),
    ("temporary files' size, MiB", lambda r: r["database_stats"]["temp_mib"]),
    ("block reads served by shared buffers, %", lambda r: 100 * r["database_stats"]["hit_ratio"]),
    ("migration Job on this database, s", lambda r: r["migration_job_s"]),
]


def median_range(values: list[float], digits: int = 1) -> str:
    """A table cell: the median, and [min-max] over more than one repetition."""
    if not values:
        return "n/a"
    def rounded(value: float) -> float | int:
        return round(value, digits) if digits else round(value)

    median = rounded(statistics.median(values))
    return f"{median}" if len(values) == 1 else f"{median} [{rounded(min(values))}-{rounded(max(values))}]"


def cell(runs: list[dict[str, Any]], figure: Figure, digits: int = 1) -> str:
    """A figure over repetitions, skipping those that lack it."""
    return median_range([v for v in (figure(run) for run in runs) if v is not None], digits)


def _groups(growth: dict[str, Any]) -> list[tuple[str, str]]:
    """(size, settings) columns: sizes in the order they ran, settings in the command's order."""
    sizes = list(dict.fromkeys(run["size"] for run in growth["runs"]))
    order = growth.get("settings") or list(dict.fromkeys(run["settings"] for run in growth["runs"]))
    return [(size, name) for size in sizes for name in order
            if any((run["size"], run["settings"]) == (size, name) for run in growth["runs"])]


def growth_section(growth: dict[str, Any]) -> list[str]:
    groups = _groups(growth)
    runs = {group: [r for r in growth["runs"] if (r["size"], r["settings"]) == group] for group in groups}
    header = "| Figure | " + " | ".join(f"{size}, {settings}" for size, settings in groups) + " |"
    lines = [
        "## Growth: a database of millions of metric rows",
        "",
        f"Run `{growth['command']}` on {growth['started']} ({growth['machine']}). Each size is one database, filled "
        "through MLflow's client (template runs, a long run, a trace) and SQL copies of their rows (bench/growth.py), "
        f"then `VACUUM ANALYZE`d, under the `{growth['runs'][0].get('fill_settings', 'tuned')}` settings; the server "
        "is the dev stack's, in the image's environment. "
        "Columns: size (metric rows) and PostgreSQL's settings: `defaults` (what the stack ran before) or `tuned` "
        "(mlflow_platform/mlflow_postgres/tuning.py for the pod's memory limit). The same database is measured "
        f"{growth['reps']} time(s) under each setting, PostgreSQL restarted with it before each measurement (the "
        "order alternating), so both settings meet the same rows; each cell is the median [min-max] over those "
        f"measurements. Within one, the UI pages and client calls are replayed {growth['calls']} times. UI pages: the "
        "API calls headless Chromium sent to render the page, replayed one after another (the browser sends some at "
        "once, so the page waits less than their sum, and at least the slowest).",
        "",
        *([f"Conditions: {growth['conditions']}", ""] if growth.get("conditions") else []),
        header,
        "| --- |" + " --- |" * len(groups),
        *(f"| {name} | " + " | ".join(cell(runs[group], figure) for group in groups) + " |" for name, figure in FIGURES),
        "",
        "| Size | runs | metric rows | fill through SQL copies, s |",
        "| --- | --- | --- | --- |",
        *(f"| {size} | {runs[(size, settings)][0]['runs']} | {runs[(size, settings)][0]['metric_rows']} | "
          f"{runs[(size, settings)][0]['fill_s']} |" for size, settings in groups if settings == groups[0][1]),
        "",
        "What each UI page asked for (recorded in the first run): "
        + "; ".join(f"{page}: {', '.join(growth['runs'][0][page]['recorded'])}"
                    for page in ("ui_runs_page", "ui_run_page", "ui_compare_runs")),
        "",
        *_temp_file_statements(growth["runs"]),
        "![latency against database size, PostgreSQL defaults and tuned](growth.png)",
        "",
    ]
    return lines


def _temp_file_statements(runs: list[dict[str, Any]]) -> list[str]:
    """Which statements spilled to temporary files, per size and settings (first repetition; log_temp_files 0)."""
    lines = [f"- {run['size']}, {run['settings']}: {s['files']} files, {s['mib']} MiB: `{s['statement']}`"
             for run in runs if run["rep"] == 0 for s in run.get("temp_file_statements", [])]
    return ["Statements that wrote temporary files while the figures above were measured (PostgreSQL's log with "
            "log_temp_files 0, literals masked; first repetition):", "", *lines, ""] if lines else []


def plot_growth(growth: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(growth)
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    shown = [("UI runs page, p50 ms", FIGURES[1][1]), ("client search_runs with a filter, p50 ms", FIGURES[10][1]),
             ("log_batch @8, p95 ms", FIGURES[13][1])]
    for axis, (title, figure_of) in zip(axes, shown, strict=True):
        for settings in dict.fromkeys(s for _, s in groups):
            points = [(run["metric_rows"], figure_of(run)) for run in growth["runs"] if run["settings"] == settings]
            by_size: dict[int, list[float]] = {}
            for rows, value in points:
                if value is not None:
                    by_size.setdefault(rows, []).append(value)
            xs = sorted(by_size)
            axis.plot(xs, [statistics.median(by_size[x]) for x in xs], marker="o", label=f"PostgreSQL {settings}")
        axis.set(title=title, xlabel="metric rows", xscale="log")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
