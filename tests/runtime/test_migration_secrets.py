"""The declared migration Job and its database URI: never on a command line, and any password works.

The migration runs `mlflow db upgrade` from Python with the URI read from its environment
(mlflow_platform/mlflow_server/migration.py); as `mlflow db upgrade $(VAR)` the kubelet would expand it into argv.
"""

import dataclasses
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness import run_program
from mlflow_platform.mlflow_postgres.endpoint import database_uri
from runtime.platform import URI_SECRET, Platform

pytestmark = pytest.mark.runtime


def command_lines() -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        try:
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError):
            continue
    return lines


def test_the_migration_puts_no_database_uri_on_any_command_line(platform: Platform) -> None:
    uri = platform.cluster.secrets[URI_SECRET]
    seen: list[str] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.extend(line for line in command_lines() if "upgrade" in line or uri in line)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        migrated = platform.migrate()
    finally:
        done.set()
        sampler.join()
    assert migrated.returncode == 0, migrated.stderr
    assert any("upgrade" in line for line in seen), "the sampler never saw the migration run"
    assert [line for line in seen if uri in line] == []


def test_a_password_with_uri_metacharacters_reaches_the_database(platform: Platform) -> None:
    """The URI as MlflowPostgres builds it (SQLAlchemy's URL.create) for a password full of what URIs use; the local
    server trusts loopback, so a URI parsed wrongly (another host, user or database) is what would fail."""
    local = urlsplit(platform.cluster.secrets[URI_SECRET])
    uri = database_uri(local.username or "postgres", "p@ss:w/rd?#1 %", local.hostname or "127.0.0.1",
                       local.port or 5432, local.path.lstrip("/"), {})
    secrets = {**platform.cluster.secrets, URI_SECRET: uri}
    weird = dataclasses.replace(platform, cluster=dataclasses.replace(platform.cluster, secrets=secrets))
    migrated = weird.migrate()
    assert migrated.returncode == 0, migrated.stderr[-2000:]


def test_a_uri_of_the_users_own_secret_must_carry_the_declared_tls(platform: Platform) -> None:
    """externalDatabaseUriSecret: the program never sees that URI, so the Job checks it carries what the stack
    declares (here sslmode=prefer, which the local server without TLS accepts) before it migrates."""
    declared = run_program("dev", {"databaseMode": "external", "externalDatabaseHost": "pg.internal.example.com",
                                   "externalDatabaseUriSecret": "team-mlflow-db", "externalDatabaseSslMode": "prefer",
                                   "databaseCidr": "10.20.0.0/16"})

    def migrate_with(uri: str) -> subprocess.CompletedProcess[str]:
        secrets = {**platform.cluster.secrets, ("team-mlflow-db", "uri"): uri}
        return dataclasses.replace(platform, run=declared,
                                   cluster=dataclasses.replace(platform.cluster, secrets=secrets)).migrate()

    local = platform.cluster.secrets[URI_SECRET]
    refused = migrate_with(local)
    assert refused.returncode != 0 and "lacks what the stack declares" in refused.stderr, refused.stderr[-2000:]
    assert "sslmode=prefer" in refused.stderr
    migrated = migrate_with(f"{local}{'&' if '?' in local else '?'}sslmode=prefer")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
