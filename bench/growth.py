"""`python -m bench --growth`: the stack's server on a database grown to millions of metric rows.

The database is filled the way users fill it, without waiting days for it: MLflow's own API (the client, through the
server as the stack declares it) writes one template run of each kind, with params, tags, metrics over steps, a
dataset input and a trace; SQL then copies each template's rows to new runs, with new ids, run names, start times and
metric values. Every copied row has the columns and shapes the store API wrote (tests/test_bench.py checks a copy
reads back through the client like its template). One long run holds a metric of LONG_RUN_STEPS steps.

Measured per size, on a PostgreSQL with its defaults and with the settings the stack deploys: what the MLflow UI
asks for on an experiment's runs page, a run's page and the comparison of runs (the browser's own requests, recorded
by headless Chromium and replayed), a long metric's history, `search_runs` from the client with a filter, `log_batch`
latency and throughput at 8 clients, and the migration Job on that database.
"""

import json
import os
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mlflow
import psycopg2
import requests
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from bench.measure import prepare, run_load
from bench.stats import percentile
from harness import ProgramRun
from runtime.platform import Platform, RunningServer, local_platform, stopping
from runtime.services import PrivatePostgres

EXPERIMENTS = 10
PARAMS, TAGS, METRIC_KEYS = 20, 5, 10


@dataclass(frozen=True)
class Size:
    name: str
    runs: int
    steps: int
    """Steps of each of a run's METRIC_KEYS metrics."""
    long_run_steps: int

    @property
    def metric_rows(self) -> int:
        return self.runs * METRIC_KEYS * self.steps + self.long_run_steps


SIZES = {size.name: size for size in (
    Size("smoke", 200, 5, 1_000),
    Size("1M", 10_000, 10, 100_000),
    Size("10M", 100_000, 10, 100_000),
    Size("30M", 100_000, 30, 100_000),
)}


def pg_settings(name: str, program: ProgramRun) -> dict[str, str]:
    """`tuned`: the settings the in-cluster PostgreSQL is declared with (its `-c key=value` arguments); `defaults`:
    PostgreSQL's own but the declared max_connections, what the stack ran before."""
    spec = program.one("kubernetes:apps/v1:StatefulSet").plain_inputs["spec"]["template"]["spec"]
    args = next(c for c in spec["containers"] if c["name"] == "postgresql")["args"]
    declared = dict(arg.split("=", 1) for arg in args if arg != "-c")
    return declared if name == "tuned" else {"max_connections": declared["max_connections"]}


# --- Filling ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Templates:
    experiment_ids: list[str]
    run_id: str
    long_run_id: str
    trace_id: str | None


def write_templates(url: str, size: Size) -> Templates:
    """One run, one long run and one trace through MLflow's client: the rows every copy repeats."""
    client = MlflowClient(url)
    experiments = [client.create_experiment(f"growth-{i}") for i in range(EXPERIMENTS)]
    run = client.create_run(experiments[0], run_name="template", tags={"team": "growth"})
    client.log_batch(run.info.run_id, params=[Param(f"p{i}", str(0.001 * (i + 1))) for i in range(PARAMS)],
                     tags=[RunTag(f"t{i}", f"value-{i}") for i in range(TAGS)])
    for start in range(0, size.steps, 100):
        client.log_batch(run.info.run_id, metrics=[
            Metric(f"m{key}", 1.0 / (step + 1 + key), 1_700_000_000_000 + step, step)
            for key in range(METRIC_KEYS) for step in range(start, min(start + 100, size.steps))])
    dataset = Dataset(name="train", digest="0123abcd", source_type="local", source=json.dumps({"uri": "train.csv"}),
                      schema=json.dumps({"mlflow_colspec": [{"name": "x", "type": "double"}]}),
                      profile=json.dumps({"num_rows": 1000}))
    client.log_inputs(run.info.run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
    client.set_terminated(run.info.run_id)
    long_run = client.create_run(experiments[0], run_name="long")
    for start in range(0, size.long_run_steps, 1000):
        client.log_batch(long_run.info.run_id, metrics=[Metric("loss", 1.0 / (step + 1), 1_700_000_000_000 + step, step)
                                                        for step in range(start, min(start + 1000, size.long_run_steps))])
    client.set_terminated(long_run.info.run_id)
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(experiment_id=experiments[0])
    with mlflow.start_span("predict") as span:
        span.set_inputs({"question": "what grows?"})
        span.set_outputs({"answer": "the database"})
    mlflow.flush_trace_async_logging()
    traces = client.search_traces(locations=[experiments[0]], max_results=1)
    return Templates(experiments, run.info.run_id, long_run.info.run_id, traces[0].info.trace_id if traces else None)


def _columns(cursor: Any, table: str) -> list[str]:
    """Its columns that take values (a generated column, like spans.duration_ns, computes its own)."""
    cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = "
                   "current_schema() AND is_generated = 'NEVER' ORDER BY ordinal_position", (table,))
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor: Any, table: str, owner: str, template: str, mapping: str, replace: dict[str, str]) -> int:
    """Insert a copy of `table`'s rows whose `owner` column is `template` for every row of the temp table
    `mapping`, each column as it is unless `replace` gives its expression (t: the template row, g: the mapping)."""
    columns = _columns(cursor, table)
    select = ", ".join(replace.get(column, f't."{column}"') for column in columns)
    quoted = ", ".join(f'"{column}"' for column in columns)
    cursor.execute(f'INSERT INTO "{table}" ({quoted}) SELECT {select} FROM "{table}" t CROSS JOIN {mapping} g '
                   f'WHERE t."{owner}" = %s', (template,))
    return int(cursor.rowcount)


def grow(database_url: str, templates: Templates, size: Size) -> dict[str, Any]:
    """Copy the template run to size.runs runs spread over the experiments, and the trace to one per 10 runs."""
    began = time.monotonic()
    connection = psycopg2.connect(database_url)
    rows: dict[str, int] = {}
    try:
        with connection, connection.cursor() as cursor:
            ids = ",".join(str(int(e)) for e in templates.experiment_ids)
            cursor.execute(f"CREATE TEMP TABLE g_runs AS SELECT n, md5('growth-run-' || n) AS run_uuid, "
                           f"(ARRAY[{ids}])[1 + n % {EXPERIMENTS}] AS experiment_id, "
                           f"md5('growth-input-' || n) AS input_uuid FROM generate_series(1, {size.runs - 1}) n")
            run_columns = {"run_uuid": "g.run_uuid", "experiment_id": "g.experiment_id",
                           "name": "'run-' || g.n", "start_time": "t.start_time + g.n * 1000",
                           "end_time": "t.end_time + g.n * 1000",
                           "artifact_uri": f"replace(t.artifact_uri, '{templates.run_id}', g.run_uuid)"}
            rows["runs"] = _copy(cursor, "runs", "run_uuid", templates.run_id, "g_runs", run_columns)
            for table in ("params", "tags", "latest_metrics", "metrics"):
                # Values differ per run, so filters and orderings by metric select among them as they would.
                replace = {"run_uuid": "g.run_uuid"}
                if "metrics" in table:
                    replace["value"] = "t.value * (1 + mod(g.n, 97) / 10.0)"
                if table == "tags":  # the store keeps the run's name in its mlflow.runName tag too
                    replace["value"] = "CASE WHEN t.key = 'mlflow.runName' THEN 'run-' || g.n ELSE t.value END"
                rows[table] = _copy(cursor, table, "run_uuid", templates.run_id, "g_runs", replace)
            # A dataset per experiment, and each run's input of its experiment's dataset.
            cursor.execute("SELECT source_id FROM inputs WHERE destination_id = %s", (templates.run_id,))
            dataset = cursor.fetchone()[0]
            cursor.execute(f"CREATE TEMP TABLE g_datasets AS SELECT e AS experiment_id, md5('growth-dataset-' || e) "
                           f"AS dataset_uuid FROM unnest(ARRAY[{ids}]) e WHERE e <> {int(templates.experiment_ids[0])}")
            rows["datasets"] = _copy(cursor, "datasets", "dataset_uuid", dataset, "g_datasets",
                                     {"dataset_uuid": "g.dataset_uuid", "experiment_id": "g.experiment_id"})
            cursor.execute("CREATE TEMP TABLE g_inputs AS SELECT r.*, coalesce(d.dataset_uuid, %s) AS dataset_uuid "
                           "FROM g_runs r LEFT JOIN g_datasets d USING (experiment_id)", (dataset,))
            cursor.execute("SELECT input_uuid FROM inputs WHERE destination_id = %s", (templates.run_id,))
            template_input = cursor.fetchone()[0]
            rows["inputs"] = _copy(cursor, "inputs", "input_uuid", template_input, "g_inputs",
                                   {"input_uuid": "g.input_uuid", "source_id": "g.dataset_uuid",
                                    "destination_id": "g.run_uuid"})
            rows["input_tags"] = _copy(cursor, "input_tags", "input_uuid", template_input, "g_inputs",
                                       {"input_uuid": "g.input_uuid"})
            if templates.trace_id:
                cursor.execute(f"CREATE TEMP TABLE g_traces AS SELECT n, 'tr-' || md5('growth-trace-' || n) AS "
                               f"trace_id, (ARRAY[{ids}])[1 + n % {EXPERIMENTS}] AS experiment_id "
                               f"FROM generate_series(1, {max(size.runs // 10, 1)}) n")
                for table, owner in _trace_tables(cursor):
                    replace = {owner: "g.trace_id", "experiment_id": "g.experiment_id"}
                    if table == "trace_info":
                        replace["timestamp_ms"] = "t.timestamp_ms + g.n * 1000"
                    rows[table] = _copy(cursor, table, owner, templates.trace_id, "g_traces", replace)
        with connection.cursor() as cursor:
            connection.autocommit = True
            cursor.execute("VACUUM ANALYZE")  # what autovacuum would have done by the time a user looks
    finally:
        connection.close()
    return {"rows": rows, "fill_s": round(time.monotonic() - began, 1)}


def _trace_tables(cursor: Any) -> list[tuple[str, str]]:
    """trace_info first, then every table keyed by its trace (request_id before MLflow 3, trace_id since)."""
    cursor.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
                   "current_schema() AND column_name IN ('request_id', 'trace_id') AND (table_name LIKE 'trace%%' "
                   "OR table_name = 'spans') ORDER BY table_name <> 'trace_info', table_name")
    return [(table, column) for table, column in cursor.fetchall()]


# --- What a user waits for ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: str | None


def record_ui_calls(browser: Any, base_url: str, page_path: str) -> list[Call]:
    """The API requests the MLflow UI sends to render a page (hash route), as headless Chromium sends them."""
    calls: list[Call] = []
    context = browser.new_context()
    page = context.new_page()

    def sent(request: Any) -> None:
        parts = urlsplit(request.url)
        if "/ajax-api/" in parts.path or "/api/" in parts.path or parts.path.endswith("/graphql"):
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            calls.append(Call(request.method, path, request.post_data))

    page.on("request", sent)
    # Not "networkidle": the runs page polls, so the network may never rest for 500 ms (a CI run waited 300 s for
    # it). What the page asks for in its first 5 s after loading is what is recorded.
    page.goto(f"{base_url}/#{page_path}", wait_until="load", timeout=120_000)
    page.wait_for_timeout(5000)
    context.close()
    return calls


def replay(url: str, calls: list[Call], repetitions: int) -> dict[str, Any]:
    """Each of a page's calls `repetitions` times: the slowest call's median and p95, and the page's total."""
    session = requests.Session()
    per_call: list[list[float]] = [[] for _ in calls]
    errors = 0
    for _ in range(repetitions):
        for index, call in enumerate(calls):
            began = time.perf_counter()
            response = session.request(call.method, url + call.path, data=call.body, timeout=600,
                                       headers={"Content-Type": "application/json"} if call.body else {})
            per_call[index].append(time.perf_counter() - began)
            errors += response.status_code >= 400 and not call.path.endswith("/users/current")
    totals = [sum(times[rep] for times in per_call) for rep in range(repetitions)]
    slowest = max(range(len(calls)), key=lambda i: statistics.median(per_call[i])) if calls else None
    return {"calls": len(calls), "errors": errors, **_stats("page", totals),
            **(_stats("slowest", per_call[slowest]) if slowest is not None else {}),
            "slowest_call": f"{calls[slowest].method} {calls[slowest].path.split('?')[0]}" if slowest is not None else None}


def _stats(prefix: str, seconds: list[float]) -> dict[str, float]:
    return {f"{prefix}_p{p}_ms": round(percentile(seconds, p) * 1000, 1) for p in (50, 95)}


def timed(function: Callable[[], Any], repetitions: int) -> dict[str, float]:
    times = []
    for _ in range(repetitions):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return _stats("call", times)


def check_copies(url: str, templates: Templates) -> None:
    """A copied run reads back through MLflow's client like its template: the fill wrote what the store API writes."""
    client = MlflowClient(url)
    template = client.get_run(templates.run_id)
    copy = client.search_runs([templates.experiment_ids[1]], "attributes.run_name = 'run-1'")[0]
    assert copy.data.params == template.data.params, "params differ"
    assert copy.data.metrics.keys() == template.data.metrics.keys(), "metrics differ"
    assert {k for k in copy.data.tags if k != "mlflow.runName"} == {k for k in template.data.tags if k != "mlflow.runName"}
    assert len(copy.inputs.dataset_inputs) == len(template.inputs.dataset_inputs) == 1, "dataset inputs differ"
    assert len(client.get_metric_history(copy.info.run_id, "m0")) == len(client.get_metric_history(templates.run_id, "m0"))
    if templates.trace_id:
        assert client.search_traces(locations=[templates.experiment_ids[1]], max_results=1), "no copied trace"


def database_stats(database_url: str) -> dict[str, float]:
    """Since the server started: temporary files queries wrote (sorts and hashes beyond work_mem) and the share of
    block reads PostgreSQL's buffers served."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT temp_files, temp_bytes, blks_hit, blks_read FROM pg_stat_database "
                       "WHERE datname = current_database()")
        files, temp_bytes, hit, read = (int(v) for v in cursor.fetchone())
    return {"temp_files": files, "temp_mib": round(temp_bytes / 2**20, 1),
            "hit_ratio": round(hit / (hit + read), 4) if hit + read else 1.0}


def temp_file_statements(log: Path, offset: int, top: int = 3) -> list[dict[str, Any]]:
    """The statements that wrote temporary files since `offset` in PostgreSQL's log (log_temp_files = 0 logs each
    file with its statement), grouped with their literals masked, largest total first."""
    with log.open(errors="replace") as text:
        text.seek(offset)
        lines = text.read().splitlines()
    by_statement: dict[str, list[int]] = {}
    for index, line in enumerate(lines):
        if not (found := re.search(r'temporary file: path "[^"]*", size (\d+)', line)):
            continue
        statement = ""
        for following in lines[index + 1:]:
            if "STATEMENT:" in following and not statement:
                statement = following.split("STATEMENT:", 1)[1]
            elif statement and following.startswith("\t"):
                statement += " " + following
            elif statement or "temporary file:" in following:
                break
        masked = re.sub(r"'(?:[^']|'')*'", "?", " ".join(statement.split()))
        by_statement.setdefault(re.sub(r"\b\d+(?:\.\d+)?\b", "?", masked), []).append(int(found.group(1)))
    ranked = sorted(by_statement.items(), key=lambda item: -sum(item[1]))[:top]
    return [{"statement": statement[:600], "files": len(sizes), "mib": round(sum(sizes) / 2**20, 1)}
            for statement, sizes in ranked]


def _reset_stats(database_url: str) -> None:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_reset()")


def database_mib(database_url: str) -> float:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return round(int(cursor.fetchone()[0]) / 2**20, 1)


@contextmanager
def chromium_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = os.environ.get("MLFLOW_PLATFORM_CHROMIUM") or shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path)
        try:
            yield browser
        finally:
            browser.close()


def measure_size(program: ProgramRun, size: Size, settings: dict[str, dict[str, str]], reps: int, workdir: Path,
                 calls: int, load_seconds: float, record: Callable[[dict[str, Any]], None]) -> None:
    """One database of `size`, filled once, then measured `reps` times under each of `settings` (name -> server
    parameters), PostgreSQL restarted with them before each measurement: every setting meets the same rows."""
    names = list(settings)
    postgres = PrivatePostgres(settings=settings[names[-1]])
    try:
        with local_platform(program, postgres.server, workdir) as platform:
            assert platform.migrate().returncode == 0
            database_url = platform.postgres.url_for(platform.database)
            with stopping(platform.start_server("growth-fill")) as server:
                templates = write_templates(server.url, size)
                filled = grow(database_url, templates, size)
                check_copies(server.url, templates)
            about = {"size": size.name, "metric_rows": size.metric_rows, "runs": size.runs, **filled,
                     "fill_settings": names[-1], "database_mib": database_mib(database_url)}
            for rep in range(reps):
                # Alternated, so that neither setting always follows the fill or the other.
                for name in names if rep % 2 else reversed(names):
                    print(f"growth {size.name}, rep {rep + 1}/{reps}: PostgreSQL {name}", flush=True)
                    postgres.settings = settings[name]
                    postgres.restart()
                    result: dict[str, Any] = {"rep": rep, **about, "settings": name, "pg_settings": settings[name]}
                    with stopping(platform.start_server(f"growth-{rep}-{name}")) as server:
                        _reset_stats(database_url)
                        log_offset = postgres.log.stat().st_size
                        result.update(_user_waits(server, templates, calls, load_seconds))
                        result["database_stats"] = database_stats(database_url)
                        result["temp_file_statements"] = temp_file_statements(postgres.log, log_offset)
                    result["migration_job_s"] = _migration_seconds(platform)
                    record(result)
    finally:
        postgres.stop()


def _user_waits(server: RunningServer, templates: Templates, repetitions: int, load_seconds: float) -> dict[str, Any]:
    client = MlflowClient(server.url)
    experiment = templates.experiment_ids[1]
    some_runs = [run.info.run_id for run in client.search_runs([experiment], max_results=5)]
    pages = {
        "ui_runs_page": f"/experiments/{experiment}",
        "ui_run_page": f"/experiments/{experiment}/runs/{some_runs[0]}",
        "ui_compare_runs": "/compare-runs?runs=" + json.dumps(some_runs) + "&experiments=" + json.dumps([experiment]),
    }
    result: dict[str, Any] = {}
    with chromium_browser() as browser:
        recorded = {name: record_ui_calls(browser, server.url, path) for name, path in pages.items()}
    for name, calls in recorded.items():
        result[name] = replay(server.url, calls, repetitions)
        result[name]["recorded"] = sorted({f"{c.method} {c.path.split('?')[0]}" for c in calls})
    result["metric_history_long_run"] = timed(lambda: client.get_metric_history(templates.long_run_id, "loss"),
                                              repetitions)
    result["client_search_runs_filtered"] = timed(lambda: client.search_runs(
        [experiment], "metrics.m0 < 0.5 and params.p0 = '0.001'", max_results=100, order_by=["metrics.m0 ASC"]),
        repetitions)
    workload = prepare(server.url, 0, 0)
    result["log_batch_1000@8"] = run_load(server.url, workload, "log_batch_1000", 8, load_seconds)
    return result


def _migration_seconds(platform: Platform) -> float:
    """The migration Job on the grown database: what every `pulumi up` runs before the server rolls."""
    completed, seconds = platform.timed_migrate()
    assert completed.returncode == 0, completed.stderr[-2000:]
    return round(seconds, 2)


def run_growth(program: ProgramRun, sizes: list[Size], settings_names: list[str], reps: int, calls: int,
               load_seconds: float, out: Path, scratch: Path, machine: str, command: str) -> dict[str, Any]:
    """Every size, each filled once and measured `reps` times under every setting; growth.json written after each
    measurement, so a stopped run keeps them."""
    growth: dict[str, Any] = {"command": command, "machine": machine, "reps": reps, "calls": calls,
                              "settings": settings_names,
                              "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": []}
    # log_temp_files 0: each temporary file is logged with its statement (temp_file_statements).
    settings = {name: {"fsync": "on", "log_temp_files": "0", **pg_settings(name, program)} for name in settings_names}

    def record(result: dict[str, Any]) -> None:
        growth["runs"].append(result)
        (out / "growth.json").write_text(json.dumps(growth, indent=1))

    for size in sizes:
        workdir = scratch / f"growth-{size.name}"
        workdir.mkdir()
        measure_size(program, size, settings, reps, workdir, calls, load_seconds, record)
    return growth
