"""Run the benchmark: `.venv/bin/python -m bench` (full) or `--smoke` (one repetition, tiny sizes); `--growth` runs
the growth benchmark instead (bench/growth.py: `--sizes 1M,10M`, `--smoke` for a tiny database), `--scale-out` the
pooler's scale-out benchmark (bench/scale_out.py: `--replicas 2,6`).

Every configuration is measured in each repetition, one after another, so drifts of the machine hit all alike.
"""

import argparse
import json
import platform as host
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow

from bench import ROOT
from bench.configs import CONFIGS, ServerConfig, program_for
from bench.growth import SIZES, run_growth
from bench.jobs import jobs_program, measure_jobs_pod
from bench.measure import (
    OPERATIONS,
    MemorySampler,
    artifact_throughput,
    direct_s3_throughput,
    first_api_call_seconds,
    prepare,
    process_tree,
    raw_ingestion,
    run_load,
)
from bench.report import write_report
from bench.scale_out import run_scale_out
from harness import ProgramRun
from runtime.image_env import describe, required_image_bin
from runtime.platform import local_platform
from runtime.services import PostgresServer

FULL = {"reps": 3, "seconds": 2.0, "concurrency": [1, 8, 32], "sizes": [1 << 20, 100 << 20, 1 << 30],
        "search_runs": 2000, "history_points": 10_000, "settle": 10.0, "ingest_rows": 100_000}
SMOKE = {"reps": 1, "seconds": 0.3, "concurrency": [1, 8], "sizes": [1 << 20], "search_runs": 40,
         "history_points": 200, "settle": 1.0, "ingest_rows": 2_000}


def measure(config: ServerConfig, program: ProgramRun, postgres: PostgresServer, workdir: Path,
            files: Path, settings: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"config": config.name}
    with local_platform(program, postgres, workdir) as platform:
        if config.uses_migration_job:
            began = time.monotonic()
            assert platform.migrate().returncode == 0
            result["migration_s"] = round(time.monotonic() - began, 2)
        server = config.start(platform, f"{config.name}-cold", None)
        try:
            result["cold"] = {"healthy_s": round(server.startup_seconds, 2), "first_api_s": first_api_call_seconds(server)}
            time.sleep(settings["settle"])
            result["idle"] = process_tree(server.process.pid)
            workload = prepare(server.url, settings["search_runs"], settings["history_points"])
            with MemorySampler(server.process.pid) as sampler:
                result["operations"] = {f"{operation}@{concurrency}": run_load(server.url, workload, operation,
                                                                                concurrency, settings["seconds"])
                                        for operation in OPERATIONS for concurrency in settings["concurrency"]}
                result["artifacts"] = {str(size): artifact_throughput(platform, server, size, files)
                                       for size in settings["sizes"]}
            result["under_load"] = sampler.peak
            result["direct_s3"] = {str(size): direct_s3_throughput(platform, size, files) for size in settings["sizes"]}
        finally:
            server.stop()
        warm = config.start(platform, f"{config.name}-warm", None)
        try:
            result["warm"] = {"healthy_s": round(warm.startup_seconds, 2), "first_api_s": first_api_call_seconds(warm)}
        finally:
            warm.stop()
    return result


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    postgres = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": len([1 for line in Path("/proc/cpuinfo").read_text().splitlines()
                                      if line.startswith("processor")]),
            "memory_gib": round(int(memory) / 1024**2, 1), "os": host.platform(), "python": host.python_version(),
            "mlflow": mlflow.__version__, "postgres_client": postgres,
            "image_environment": describe(required_image_bin())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one repetition, tiny sizes (the test suite runs this)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where REPORT.md, results.json and the plot go")
    parser.add_argument("--reps", type=int, help="repetitions (default 3)")
    parser.add_argument("--configs", help="comma-separated subset of: " + ", ".join(c.name for c in CONFIGS))
    parser.add_argument("--report-only", action="store_true", help="rewrite REPORT.md from an earlier results.json")
    parser.add_argument("--growth", action="store_true", help="the growth benchmark: the server on large databases")
    parser.add_argument("--sizes", default="1M,10M", help="growth sizes, of: " + ", ".join(SIZES))
    parser.add_argument("--pg-settings", default="defaults,tuned", help="growth: PostgreSQL settings to compare")
    parser.add_argument("--conditions", help="growth, scale-out: what the report should say about the machine's state")
    parser.add_argument("--scale-out", action="store_true",
                        help="the scale-out benchmark: server replicas with and without the pooler")
    parser.add_argument("--replicas", default="2,6", help="scale-out: replica counts")
    parser.add_argument("--rounds", type=int, default=20, help="scale-out: rounds per client")
    args = parser.parse_args(argv)
    if args.report_only:
        write_report(json.loads((args.out / "results.json").read_text()), args.out)
        return 0
    if args.growth:
        return growth_main(args)
    if args.scale_out:
        return scale_out_main(args)
    settings: dict[str, Any] = dict(SMOKE if args.smoke else FULL)
    if args.reps:
        settings["reps"] = args.reps
    postgres = PostgresServer.from_environment()
    if reason := postgres.unavailable_reason():
        print(f"benchmark needs PostgreSQL: {reason}", file=sys.stderr)
        return 2
    configs = [c for c in CONFIGS if not args.configs or c.name in args.configs.split(",")]
    programs = {config.name: program_for(config) for config in configs}
    jobs = jobs_program()
    results: dict[str, Any] = {"machine": machine(), "settings": settings, "runs": [],
                               "command": " ".join(["python -m bench", *(["--smoke"] if args.smoke else []),
                                                    *([f"--configs {args.configs}"] if args.configs else []),
                                                    *([f"--reps {args.reps}"] if args.reps else [])]),
                               "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as scratch:
        database = postgres.create_database("mlflow_bench_ingest")
        try:
            results["ingestion"] = raw_ingestion(postgres.url_for(database), int(settings["ingest_rows"]))
        finally:
            postgres.drop_database(database)
        files = Path(scratch) / "files"
        files.mkdir()
        for rep in range(settings["reps"]):
            for config in configs:
                print(f"rep {rep + 1}/{settings['reps']}: {config.name}", flush=True)
                workdir = Path(scratch) / f"{rep}-{config.name}"
                workdir.mkdir()
                results["runs"].append({"rep": rep, **measure(config, programs[config.name], postgres, workdir, files,
                                                              settings)})
                # Written after every configuration: an interrupted run still leaves its measurements.
                (args.out / "results.json").write_text(json.dumps(results, indent=1))
            print(f"rep {rep + 1}/{settings['reps']}: jobs pod", flush=True)
            workdir = Path(scratch) / f"{rep}-jobs-pod"
            workdir.mkdir()
            results.setdefault("jobs_pod", []).append(measure_jobs_pod(jobs, postgres, workdir, settings["settle"]))
            (args.out / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, args.out)
    print(f"wrote {args.out / 'REPORT.md'}")
    return 0


def _summary(about: dict[str, Any]) -> str:
    return f"{about['cores']} cores, {about['memory_gib']} GiB, MLflow {about['mlflow']}, {about['postgres_client']}"


def _rewrite_report(out: Path) -> None:
    results = out / "results.json"
    write_report(json.loads(results.read_text()) if results.exists() else None, out)
    print(f"wrote {out / 'REPORT.md'}")


def scale_out_main(args: argparse.Namespace) -> int:
    reps = args.reps or 3
    command = f"python -m bench --scale-out --replicas {args.replicas} --rounds {args.rounds} --reps {reps}"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlflow-scale-out-") as scratch:
        result = run_scale_out([int(r) for r in args.replicas.split(",")], args.rounds, reps, args.out, Path(scratch),
                               _summary(machine()), command)
    if args.conditions:
        result["conditions"] = args.conditions
        (args.out / "scale_out.json").write_text(json.dumps(result, indent=1))
    _rewrite_report(args.out)
    return 0


def growth_main(args: argparse.Namespace) -> int:
    sizes = [SIZES["smoke"]] if args.smoke else [SIZES[name] for name in args.sizes.split(",")]
    reps = args.reps or (1 if args.smoke else 3)
    calls = 3 if args.smoke else 10
    command = " ".join(["python -m bench --growth", *(["--smoke"] if args.smoke else [f"--sizes {args.sizes}"]),
                        f"--pg-settings {args.pg_settings}", *([f"--reps {args.reps}"] if args.reps else [])])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlflow-growth-") as scratch:
        growth = run_growth(program_for(CONFIGS[0]), sizes, args.pg_settings.split(","), reps, calls,
                            1.0 if args.smoke else 10.0, args.out, Path(scratch), _summary(machine()), command)
    if args.conditions:
        growth["conditions"] = args.conditions
        (args.out / "growth.json").write_text(json.dumps(growth, indent=1))
    _rewrite_report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
