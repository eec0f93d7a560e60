"""The cost of MLflow's auth app with the identity module: the dev server as declared, with and without it.

    .venv/bin/python -m bench.auth_cost [--repetitions 3] [--seconds 15]

Same machine, same database server, same load: sequential log_metric (1 client) and log_batch of 1000
metrics at 8 clients, each for `--seconds`. With the auth app every request carries a bearer token
from a real OpenID provider on loopback, for a user who is no admin (admins skip MLflow's permission
checks), on an experiment that user created (MANAGE). Writes bench/AUTH_COST.md and auth_cost.json.
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.measure import prepare, run_load  # noqa: E402
from harness import run_program  # noqa: E402
from runtime.identity_provider import identity_provider  # noqa: E402
from runtime.platform import migrated_server  # noqa: E402
from runtime.services import PostgresServer  # noqa: E402

LOADS = {"log_metric, 1 client": ("log_metric", 1), "log_batch(1000), 8 clients": ("log_batch_1000", 8)}


def measure(overrides: dict[str, Any], headers: dict[str, str], postgres: PostgresServer, seconds: float,
            workdir: Path) -> dict[str, dict[str, Any]]:
    with migrated_server(run_program("dev", overrides), postgres, workdir, "auth-cost") as (_, server):
        workload = prepare(server.url, search_runs=8, history_points=10, headers=headers)
        return {label: run_load(server.url, workload, operation, clients, seconds, headers)
                for label, (operation, clients) in LOADS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    options = parser.parse_args(argv)
    postgres = PostgresServer.from_environment()
    results: dict[str, list[dict[str, dict[str, Any]]]] = {"without the auth app": [], "with the auth app": []}
    with identity_provider() as provider, tempfile.TemporaryDirectory() as scratch:
        auth = {"authEnabled": True, "authTrustedIssuers": [f"{provider.issuer}=bench"],
                "authAdminIssuers": [provider.issuer], "authAdminUsers": ["someone-else@example.com"]}
        token = provider.token("bench", "bench", email="bench@example.com")
        for repetition in range(options.repetitions):
            for name, overrides, headers in (("without the auth app", {}, {}),
                                             ("with the auth app", auth, {"Authorization": f"Bearer {token}"})):
                workdir = Path(scratch) / f"{repetition}-{name.split()[0]}"
                workdir.mkdir()
                results[name].append(measure(overrides, headers, postgres, options.seconds, workdir))
                print(name, repetition + 1, json.dumps(results[name][-1]), flush=True)
    (ROOT / "bench" / "auth_cost.json").write_text(json.dumps(results, indent=1) + "\n")
    (ROOT / "bench" / "AUTH_COST.md").write_text(report(results, options))
    return 0


def report(results: dict[str, list[dict[str, dict[str, Any]]]], options: argparse.Namespace) -> str:
    def median(name: str, load: str, key: str) -> float:
        return float(statistics.median(run[load][key] for run in results[name]))

    lines = ["# The cost of MLflow's auth app (identity from verified JWTs)", "",
             f"`python -m bench.auth_cost --repetitions {options.repetitions} --seconds {options.seconds:g}` on this "
             "project's CI machine (2 cores), the dev server as declared, with and without `authEnabled`. Medians of "
             f"{options.repetitions} repetitions; every request authenticated as a user who is no admin.", "",
             "| Load | Without: p50 ms | With: p50 ms | Without: per s | With: per s | Throughput with / without |",
             "| --- | --- | --- | --- | --- | --- |"]
    for load in LOADS:
        without, with_auth = median("without the auth app", load, "per_s"), median("with the auth app", load, "per_s")
        lines.append(f"| {load} | {median('without the auth app', load, 'p50_ms')} | "
                     f"{median('with the auth app', load, 'p50_ms')} | {without} | {with_auth} | "
                     f"{with_auth / without:.2f} |")
    errors = sum(run[load]["errors"] for runs in results.values() for run in runs for load in LOADS)
    lines += ["", f"Failed requests in all runs: {errors}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
