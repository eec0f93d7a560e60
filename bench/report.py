"""REPORT.md and a plot from the benchmark's results: every figure as min/median/max and as a ratio to (c)."""

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.configs import BASELINE, CONFIGS, WORKSTREAM_MEMORY_LIMIT
from bench.growth_report import growth_section, plot_growth
from bench.scale_out_report import scale_out_section

# Written by hand after a run: the causes behind the figures, which no table shows.
FINDINGS = ROOT / "bench" / "FINDINGS.md"

Figure = Callable[[dict[str, Any]], float | None]


def _values(results: dict[str, Any], config: str, figure: Figure) -> list[float]:
    values = []
    for run in results["runs"]:
        if run["config"] == config:
            value = figure(run)
            if value is not None:
                values.append(float(value))
    return values


def _median(results: dict[str, Any], config: str, figure: Figure) -> float | None:
    values = _values(results, config, figure)
    return statistics.median(values) if values else None


def _cell(results: dict[str, Any], config: str, figure: Figure) -> str:
    values = _values(results, config, figure)
    if not values:
        return "n/a"
    median = statistics.median(values)
    baseline = _median(results, BASELINE, figure)
    ratio = f" (x{median / baseline:.2f})" if baseline else ""
    spread = f" [{min(values):g}-{max(values):g}]" if len(values) > 1 else ""
    return f"{median:g}{spread}{ratio}"


def _configs(results: dict[str, Any]) -> list[Any]:
    measured = {run["config"] for run in results["runs"]}
    return [c for c in CONFIGS if c.name in measured]


def _table(results: dict[str, Any], rows: list[tuple[str, Figure]]) -> list[str]:
    configs = _configs(results)
    header = "| Figure | " + " | ".join(c.description for c in configs) + " |"
    lines = [header, "|" + " --- |" * (len(configs) + 1)]
    for label, figure in rows:
        lines.append(f"| {label} | " + " | ".join(_cell(results, c.name, figure) for c in configs) + " |")
    return lines


def _op(key: str, field: str) -> Figure:
    return lambda run: run["operations"].get(key, {}).get(field)


def _artifact(size: str, field: str) -> Figure:
    return lambda run: run["artifacts"][size].get(field)


def _direct(size: str) -> Figure:
    return lambda run: run["direct_s3"][size]


def targets(results: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """The targets (issue 15) for (a), the stack's dev configuration, against (c), on the same machine."""
    def ratio(figure: Figure) -> float | None:
        ours, theirs = _median(results, "stack-dev", figure), _median(results, BASELINE, figure)
        return ours / theirs if ours is not None and theirs else None

    checks = []
    for label, figure, limit, higher_is_better in (
        ("idle memory (PSS) ≤ 30 % of the default's", lambda r: r["idle"]["pss_mib"], 0.30, False),
        ("cold start to the first API call in ≤ 50 % of the default's time", lambda r: r["cold"]["first_api_s"], 0.50,
         False),
        ("sequential log_metric p50 ≤ 100 % of the default's", _op("log_metric@1", "p50_ms"), 1.0, False),
        *((f"{operation} throughput at concurrency {clients} ≥ the default's", _op(f"{operation}@{clients}", field),
           1.0, True)
          for operation, field in (("log_metric", "per_s"), ("log_batch_1000", "metrics_per_s"), ("search_runs", "per_s"))
          for clients in (8, 32)),
    ):
        value = ratio(figure)
        ok = None if value is None else (value >= limit if higher_is_better else value <= limit)
        checks.append((label, ok, "n/a" if value is None else f"x{value:.2f}"))
    failed = [run["operations"]["log_batch_1000@32"]["errors"] + run["operations"]["log_metric@32"]["errors"]
              for run in results["runs"] if run["config"] == "stack-dev" and "log_metric@32" in run["operations"]]
    if failed:
        checks.append(("0 failed requests at 32 clients", sum(failed) == 0, f"{sum(failed)} failed"))
    for size in (s for s in results["runs"][0]["artifacts"] if int(s) >= 100 << 20):
        direct = _median(results, "stack-dev", _direct(size))
        for field, how in (("upload_mb_s", "proxied"), ("multipart_upload_mb_s", "multipart (parts straight to S3)")):
            through = _median(results, "stack-dev", _artifact(size, field))
            share = through / direct if through and direct else None
            checks.append((f"{how} upload of {int(size) >> 20} MB ≥ 70 % of direct S3",
                           None if share is None else share >= 0.7, "n/a" if share is None else f"{share:.0%}"))
    return checks


def _server_environment(machine: dict[str, Any]) -> str:
    """The servers' Python environment: it decides the event loop, and with it the latency of several workers."""
    image = machine.get("image_environment")
    if not image:
        return "The servers' Python environment was not recorded (a run before requirements-image.txt). "
    versions = ", ".join(f"{name} {version}" for name, version in sorted(image["versions"].items()))
    return (f"Every server ran in the image's Python environment (requirements-image.txt), event loop "
            f"{image['event_loop']}: {versions}. ")


def _jobs_pod(runs: list[dict[str, Any]]) -> list[str]:
    """The dedicated jobs pod (serverJobExecution), measured apart from the API configurations above."""
    if not runs:
        return []

    def cell(figure: Figure) -> str:
        values = [float(v) for v in (figure(run) for run in runs) if v is not None]
        if not values:
            return "none within the timeout"
        spread = f" [{min(values):g}-{max(values):g}]" if len(values) > 1 else ""
        return f"{statistics.median(values):g}{spread}"

    return ["## The jobs pod (serverJobExecution)", "",
            "The dev stack's `mlflow-jobs` Deployment as declared: one uvicorn worker, MLflow's job runner and its "
            "periodic scheduler. Online scoring: a judge registered and started with sample rate 1 "
            "(`Scorer.register().start()`), then the job API searched every second for the scheduler's first job.", "",
            "| Figure | Median [min-max] |", "| --- | --- |",
            f"| cold start to /health, s | {cell(lambda r: r['healthy_s'])} |",
            f"| idle PSS of the process tree, MiB | {cell(lambda r: r['idle']['pss_mib'])} |",
            f"| idle RSS (sum), MiB | {cell(lambda r: r['idle']['rss_mib'])} |",
            f"| processes | {cell(lambda r: r['idle']['processes'])} |",
            f"| PSS after the first scoring job, MiB | {cell(lambda r: r['after_first_job']['pss_mib'])} |",
            f"| online scoring `start()` to the first scheduled job, s | "
            f"{cell(lambda r: r['online_scoring_first_job_s'])} |", ""]


def write_report(results: dict[str, Any] | None, out: Path) -> None:
    """REPORT.md from results.json's figures and, when out/growth.json and out/scale_out.json exist, the growth section
    with its plot and the scale-out section."""
    growth_file, scale_out_file = out / "growth.json", out / "scale_out.json"
    later: list[str] = []
    if growth_file.exists():
        later += growth_section(json.loads(growth_file.read_text()))
        plot_growth(json.loads(growth_file.read_text()), out / "growth.png")
    if scale_out_file.exists():
        later += scale_out_section(json.loads(scale_out_file.read_text()))
    if results is None:
        (out / "REPORT.md").write_text("\n".join(["# Benchmark: the MLflow server as this stack deploys it", "", *later]))
        return
    settings, machine = results["settings"], results["machine"]
    concurrency = settings["concurrency"]
    lines = [
        "# Benchmark: the MLflow server as this stack deploys it",
        "",
        f"Run `{results['command']}` on {results['started']}: {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']} GiB, {machine['os']}, Python {machine['python']}, MLflow {machine['mlflow']}, "
        f"{machine['postgres_client']} (server on the same machine), moto's S3 server on loopback. "
        f"{_server_environment(machine)}"
        f"{settings['reps']} repetition(s); each cell is the median [min-max] and, in brackets, the ratio to (c). "
        "Client and server share the machine's cores, so absolute numbers are lower than on a cluster; the ratios "
        "are what this report is for.",
        "",
        "## Start-up and memory",
        "",
        *_table(results, [
            ("migration Job, s", lambda r: r.get("migration_s")),
            ("cold start to /health, s", lambda r: r["cold"]["healthy_s"]),
            ("cold start to first API call, s", lambda r: r["cold"]["first_api_s"]),
            ("warm start to /health, s", lambda r: r["warm"]["healthy_s"]),
            ("idle PSS of the process tree, MiB", lambda r: r["idle"]["pss_mib"]),
            ("idle RSS (sum), MiB", lambda r: r["idle"]["rss_mib"]),
            ("processes", lambda r: r["idle"]["processes"]),
            ("peak PSS under load, MiB", lambda r: r["under_load"]["pss_mib"]),
        ]),
        "",
        *([f"(d)'s 1 GiB limit: a pod is OOM-killed when its memory passes the limit; the measured PSS of (d) is "
           f"compared with {WORKSTREAM_MEMORY_LIMIT >> 20} MiB in the summary below.", ""]
          if any(run["config"] == "workstream" for run in results["runs"]) else []),
        "## Requests (concurrency = clients, each one request at a time)",
        "",
    ]
    for operation in ("log_metric", "log_batch_1000", "log_param", "create_run", "search_runs", "get_metric_history"):
        rows: list[tuple[str, Figure]] = []
        for c in concurrency:
            rows.append((f"{operation} @{c}: p50 ms", _op(f"{operation}@{c}", "p50_ms")))
            rows.append((f"{operation} @{c}: p95 ms", _op(f"{operation}@{c}", "p95_ms")))
            rows.append((f"{operation} @{c}: p99 ms", _op(f"{operation}@{c}", "p99_ms")))
            rows.append((f"{operation} @{c}: {'metrics' if operation == 'log_batch_1000' else 'requests'}/s",
                         _op(f"{operation}@{c}", "metrics_per_s" if operation == "log_batch_1000" else "per_s")))
        lines += [f"### {operation}", "", *_table(results, rows), ""]
    lines += ["## Artifacts through the server's proxy (MB/s)", "",
              *_table(results, [row for size in results["runs"][0]["artifacts"] for row in (
                  (f"{int(size) >> 20} MiB upload", _artifact(size, "upload_mb_s")),
                  (f"{int(size) >> 20} MiB download", _artifact(size, "download_mb_s")),
                  (f"{int(size) >> 20} MiB multipart upload, parts straight to S3 (the client's default from 500 MB)",
                   _artifact(size, "multipart_upload_mb_s")),
                  (f"{int(size) >> 20} MiB direct boto3 upload (the limit)", _direct(size)))]),
              "",
              "## Metric ingestion: MLflow against PostgreSQL's own rate",
              "",
              f"PostgreSQL, rows shaped like MLflow's `metrics` table, {settings['ingest_rows']} rows: executemany "
              f"{results['ingestion']['executemany_rows_s']} rows/s, COPY {results['ingestion']['copy_rows_s']} rows/s.",
              "",
              "## Targets for (a) against (c)",
              "",
              "| Target | Met | Measured |", "| --- | --- | --- |",
              *[f"| {label} | {'yes' if ok else 'no' if ok is False else 'n/a'} | {value} |"
                for label, ok, value in targets(results)],
              ""]
    workstream = _median(results, "workstream", lambda r: r["under_load"]["pss_mib"])
    if workstream is not None:
        verdict = "would be OOM-killed" if workstream * 2**20 > WORKSTREAM_MEMORY_LIMIT else "fits"
        lines += [f"(d) under load: {workstream:g} MiB PSS against its 1024 MiB limit: it {verdict}.", ""]
    lines += _jobs_pod(results.get("jobs_pod", []))
    lines += ["![p50 latency of log_metric and log_batch throughput by concurrency](latency.png)", ""]
    if FINDINGS.exists():
        lines += ["## What the measurements say", "", FINDINGS.read_text().strip(), ""]
    (out / "REPORT.md").write_text("\n".join([*lines, *later]))
    _plot(results, out / "latency.png")


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    concurrency = results["settings"]["concurrency"]
    figure, (latency, batch) = plt.subplots(1, 2, figsize=(11, 4.2))
    for config in _configs(results):
        p50 = [_median(results, config.name, _op(f"log_metric@{c}", "p50_ms")) or 0 for c in concurrency]
        rate = [_median(results, config.name, _op(f"log_batch_1000@{c}", "metrics_per_s")) or 0 for c in concurrency]
        latency.plot(concurrency, p50, marker="o", label=config.description)
        batch.plot(concurrency, rate, marker="o", label=config.description)
    latency.set(title="log_metric p50 latency", xlabel="concurrent clients", ylabel="ms", xscale="log", yscale="log")
    batch.set(title="log_batch (1000 metrics) throughput", xlabel="concurrent clients", ylabel="metrics/s", xscale="log")
    for axis in (latency, batch):
        axis.set_xticks(concurrency, [str(c) for c in concurrency])
        axis.grid(alpha=0.3)
    latency.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
