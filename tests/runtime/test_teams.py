"""Teams as MLflow workspaces (authWorkspaces): the server and migration Job as the stack declares them,
against real PostgreSQL, with identities from a real OpenID provider and the real MLflow client.

MLflow's model with workspaces on (mlflow/server/auth/__init__.py, 3.17): creating anything in a
workspace needs a workspace-wide USE or MANAGE grant (`_can_create_in_workspace`); without one, a
user has no presence there (NO_PERMISSIONS); with USE, what nobody granted is read at the default
permission. The stack makes each team's members USE and managers MANAGE through two roles per
workspace, and keeps the default workspace as it is without workspaces.
"""

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
import pytest
from mlflow.tracking import MlflowClient

from harness import ProgramRun, run_program
from runtime.auth_calls import ADMIN, PROGRAMS, SEARCH, admin, call, create_experiment, grant, person
from runtime.clients import kubelet_probe
from runtime.fixtures import skip_or_fail
from runtime.identity_provider import IdentityProvider, identity_provider
from runtime.image_env import ROOT, cached_env_bin
from runtime.platform import Platform, RunningServer, migrated_server, stopping
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime
OPS_ENV = "MLFLOW_PLATFORM_OPS_ENV"

TEAMS = {
    "vision": {"members": ["vic@example.com", "group:vision-team"], "managers": ["mona@example.com"]},
    "nlp": {"members": ["nia@example.com"]},
}


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, IdentityProvider]]:
    with identity_provider() as sso:
        yield {"sso": sso}


@pytest.fixture(scope="module")
def teams_run(providers: dict[str, IdentityProvider]) -> ProgramRun:
    return run_program("dev", {"authEnabled": True, "authTrustedIssuers": [f"{providers['sso'].issuer}={PROGRAMS}"],
                               "authAdminIssuers": [providers["sso"].issuer], "authAdminUsers": [ADMIN],
                               "authWorkspaces": TEAMS, "gcSchedule": "0 4 * * *", "gcOlderThan": "7d"})


@pytest.fixture(scope="module")
def teams_server(teams_run: ProgramRun, postgres_server: PostgresServer,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, RunningServer]]:
    with migrated_server(teams_run, postgres_server, Path(tmp_path_factory.mktemp("teams")), "teams") as running:
        yield running


@pytest.fixture
def server(teams_server: tuple[Platform, RunningServer]) -> RunningServer:
    return teams_server[1]


def experiment(server: RunningServer, token: str, experiment_id: str, workspace: str | None = None) -> int:
    return call(server, "GET", f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}", token,
                workspace=workspace).status_code


def new_run(server: RunningServer, token: str, experiment_id: str, workspace: str | None = None) -> int:
    return call(server, "POST", "/api/2.0/mlflow/runs/create", token, workspace=workspace,
                json={"experiment_id": experiment_id}).status_code


def test_the_migration_job_created_each_teams_workspace_before_the_first_request(
        server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
    listed = call(server, "GET", "/api/3.0/mlflow/workspaces", admin(providers))
    assert listed.status_code == 200, listed.text
    assert {w["name"] for w in listed.json()["workspaces"]} >= {"default", "vision", "nlp"}


def test_a_member_works_in_the_team_workspace_with_the_real_client(
        server: RunningServer, providers: dict[str, IdentityProvider], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", person(providers, "vic"))
    monkeypatch.setenv("MLFLOW_WORKSPACE", "vision")
    client = MlflowClient(server.url)
    experiment_id = client.create_experiment("detector")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "map", 0.61)
    (tmp_path / "weights.txt").write_text("0.1 0.2")
    client.log_artifact(run.info.run_id, str(tmp_path / "weights.txt"))
    assert client.get_run(run.info.run_id).data.metrics == {"map": 0.61}
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["weights.txt"]
    assert {w.name for w in client.list_workspaces()} == {"default", "vision"}
    # The experiment lives in the team's workspace, not in the default one.
    assert experiment(server, person(providers, "vic"), experiment_id, "vision") == 200
    assert client.get_experiment_by_name("detector") is not None
    monkeypatch.delenv("MLFLOW_WORKSPACE")
    assert MlflowClient(server.url).get_experiment_by_name("detector") is None


def test_someone_outside_the_team_can_neither_see_nor_create_in_its_workspace(
        server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
    vic, nia = person(providers, "vic"), person(providers, "nia")
    experiment_id = create_experiment(server, vic, "segmenter", workspace="vision")
    assert experiment(server, nia, experiment_id, "vision") == 403
    assert new_run(server, nia, experiment_id, "vision") == 403
    created = call(server, "POST", "/api/2.0/mlflow/experiments/create", nia, workspace="vision",
                   json={"name": "intruder"})
    assert created.status_code == 403
    listed = call(server, "GET", "/api/3.0/mlflow/workspaces", nia)
    assert {w["name"] for w in listed.json()["workspaces"]} == {"default", "nlp"}


def test_members_read_each_others_experiments_at_the_default_permission(
        server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
    vic, walt = person(providers, "vic"), person(providers, "walt", "vision-team")
    experiment_id = create_experiment(server, vic, "tracker", workspace="vision")
    assert experiment(server, walt, experiment_id, "vision") == 200
    assert new_run(server, walt, experiment_id, "vision") == 403  # authDefaultPermission is READ


def test_a_group_member_is_in_the_team_only_while_the_token_lists_the_group(
        server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
    in_group, left_group = person(providers, "gus", "vision-team"), person(providers, "gus")
    experiment_id = create_experiment(server, person(providers, "vic"), "vic-for-the-team", workspace="vision")
    assert experiment(server, in_group, experiment_id, "vision") == 200
    create_experiment(server, in_group, "gus-in-vision", workspace="vision")
    assert experiment(server, left_group, experiment_id, "vision") == 403
    created = call(server, "POST", "/api/2.0/mlflow/experiments/create", left_group, workspace="vision",
                   json={"name": "gus-after-leaving"})
    assert created.status_code == 403
    assert experiment(server, in_group, experiment_id, "vision") == 200


def test_leaving_the_group_takes_effect_on_every_replica(
        teams_server: tuple[Platform, RunningServer], providers: dict[str, IdentityProvider]) -> None:
    """Each request is checked against the auth store, not a replica's memory of what it set: a replica that saw a
    user leave must not hold them out after another saw them come back, nor let them in after they left again."""
    platform, first = teams_server
    in_group, left_group = person(providers, "hal", "vision-team"), person(providers, "hal")
    experiment_id = create_experiment(first, person(providers, "vic"), "vic-for-the-replicas", workspace="vision")
    with stopping(platform.start_server("teams-replica")) as second:
        assert experiment(first, in_group, experiment_id, "vision") == 200
        assert experiment(second, left_group, experiment_id, "vision") == 403
        assert experiment(first, in_group, experiment_id, "vision") == 200
        assert experiment(first, left_group, experiment_id, "vision") == 403
        assert experiment(second, in_group, experiment_id, "vision") == 200
        assert experiment(first, left_group, experiment_id, "vision") == 403


def test_a_manager_grants_within_the_team_workspace_and_a_member_cannot(
        server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
    vic, mona, walt = person(providers, "vic"), person(providers, "mona"), person(providers, "walt", "vision-team")
    experiment_id = create_experiment(server, vic, "shared-detector", workspace="vision")
    body = {"username": "walt@example.com", "resource_type": "experiment", "resource_id": experiment_id,
            "permission": "EDIT"}
    assert call(server, "POST", "/api/3.0/mlflow/users/permissions/grant", walt, workspace="vision",
                json=body).status_code == 403
    granted = call(server, "POST", "/api/3.0/mlflow/users/permissions/grant", mona, workspace="vision", json=body)
    assert granted.status_code == 200, granted.text
    assert new_run(server, walt, experiment_id, "vision") == 200


def test_everyone_keeps_the_default_workspace_as_without_workspaces(
        server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
    """Anyone may create there, and reads what others created at the default permission."""
    nia, stranger = person(providers, "nia"), person(providers, "sam")
    experiment_id = create_experiment(server, nia, "nia-in-default")
    assert experiment(server, stranger, experiment_id) == 200
    assert new_run(server, stranger, experiment_id) == 403
    assert new_run(server, nia, experiment_id) == 200
    create_experiment(server, stranger, "sam-in-default")


def test_a_teams_registered_models_are_the_teams(server: RunningServer, providers: dict[str, IdentityProvider]) -> None:
    vic, walt, nia = person(providers, "vic"), person(providers, "walt", "vision-team"), person(providers, "nia")
    created = call(server, "POST", "/api/2.0/mlflow/registered-models/create", vic, workspace="vision",
                   json={"name": "detector-model"})
    assert created.status_code == 200, created.text
    path = "/api/2.0/mlflow/registered-models/get?name=detector-model"
    assert call(server, "GET", path, walt, workspace="vision").status_code == 200
    assert call(server, "GET", path, nia, workspace="vision").status_code == 403
    # Not in the default workspace: MLflow denies a resource whose workspace it cannot resolve there.
    assert call(server, "GET", path, vic).status_code == 403


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_the_kubelets_probes_still_pass_with_workspaces_on(server: RunningServer, probe: str) -> None:
    assert kubelet_probe(server, probe).status_code == 200


def test_gc_purges_a_teams_deleted_run_and_its_artifacts_under_the_workspace_prefix(
        teams_server: tuple[Platform, RunningServer], providers: dict[str, IdentityProvider],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With workspaces, MLflow keeps a team's proxied artifacts under workspaces/<team>/ (mlflow/server/handlers.py
    _get_workspace_scoped_repo_path_if_enabled); the gc job resolves them there, across every workspace."""
    platform, server = teams_server
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", person(providers, "vic"))
    monkeypatch.setenv("MLFLOW_WORKSPACE", "vision")
    client = MlflowClient(server.url)
    experiment_id = client.create_experiment("gc-detector")
    (tmp_path / "weights.txt").write_text("0.1")
    kept, purged = client.create_run(experiment_id).info.run_id, client.create_run(experiment_id).info.run_id
    for run_id in (kept, purged):
        client.log_artifact(run_id, str(tmp_path / "weights.txt"))
    assert all(key.startswith(f"{platform.prefix}workspaces/vision/") for key in platform.artifact_keys(purged))
    client.delete_run(purged)
    platform.backdate_deletion(8, [purged])
    result = platform.gc()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert platform.artifact_keys(purged) == []
    assert platform.artifact_keys(kept)
    assert [f.path for f in client.list_artifacts(kept)] == ["weights.txt"]


def restore_with_the_documented_script(platform: Platform, postgres: PostgresServer, backup: str,
                                      database: str) -> subprocess.CompletedProcess[str]:
    """ops/restore-backup.sh as docs/operations.md runs it: the AWS CLI at the bucket with a reader's keys (MinIO's
    root user there), the PostgreSQL clients at the server as the database user."""
    aws = cached_env_bin(OPS_ENV, "requirements-ops.lock", "ops-env")
    if aws is None:
        skip_or_fail(f"the AWS CLI is missing: run `make ops-env` and set {OPS_ENV} to it (make test does both)")
    user = urlsplit(postgres.admin_url)
    host, port = postgres.address.rsplit(":", 1)
    env = {"PATH": f"{aws}:{os.environ['PATH']}", "HOME": str(platform.workdir),
           "AWS_ENDPOINT_URL": platform.s3.endpoint, "AWS_DEFAULT_REGION": platform.s3.REGION,
           "AWS_ACCESS_KEY_ID": platform.s3.admin_key[0], "AWS_SECRET_ACCESS_KEY": platform.s3.admin_key[1],
           "PGHOST": host, "PGPORT": port, "PGUSER": user.username or "postgres", "PGPASSWORD": user.password or "",
           "PGDATABASE": database, "AUTH_PGDATABASE": f"{database}_auth"}
    return subprocess.run([str(ROOT / "ops" / "restore-backup.sh"), backup], env=env, capture_output=True, text=True,
                          timeout=600)


def every_row(postgres: PostgresServer, database: str) -> dict[str, list[str]]:
    tables = [row[0] for row in postgres.query(
        database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    return {table: sorted(map(repr, postgres.query(database, f'SELECT * FROM "{table}"'))) for table in tables}


def test_a_backup_restored_by_the_documented_script_brings_back_permissions_teams_runs_and_artifacts(
        teams_server: tuple[Platform, RunningServer], postgres_server: PostgresServer,
        providers: dict[str, IdentityProvider], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The backup CronJob as declared: its dump script, then its upload with the write-only user (IAM enforced: it
    cannot read the backup back). ops/restore-backup.sh restores that upload into fresh databases, and a server on
    them answers as before: a grant, a DENY, ownership, the team's workspace, the runs' metrics and artifacts.
    Before the auth database was backed up, a restore left everything readable at the default permission."""
    platform, server = teams_server
    vic, nia, walt = person(providers, "vic"), person(providers, "nia"), person(providers, "walt", "vision-team")
    for someone in (vic, walt, person(providers, "mona")):  # signed in once: MLflow knows them
        assert call(server, "GET", SEARCH, someone).status_code == 200
    notes = create_experiment(server, nia, "nia-notes")  # default workspace: nia owns it (MANAGE)
    assert grant(server, nia, "vic@example.com", notes, "DENY").status_code == 200
    assert grant(server, nia, "walt@example.com", notes, "EDIT").status_code == 200
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", vic)
    monkeypatch.setenv("MLFLOW_WORKSPACE", "vision")
    client = MlflowClient(server.url)
    detector = client.create_experiment("backed-up-detector")
    run_id = client.create_run(detector).info.run_id
    for step in range(5):
        client.log_metric(run_id, "loss", 1 / (step + 1), step=step)
    (tmp_path / "weights.txt").write_text("0.1 0.2")
    client.log_artifact(run_id, str(tmp_path / "weights.txt"))

    dumps = tmp_path / "dumps"
    dumps.mkdir()
    dumped = platform.backup(dumps)
    assert dumped.returncode == 0, dumped.stderr
    with platform.s3.enforcing_iam():
        uploaded = platform.upload(dumps)
    assert uploaded.returncode == 0, uploaded.stderr
    backup = re.fullmatch(r"uploaded (s3://\S+/): auth\.dump, tracking\.dump\n", uploaded.stdout)
    assert backup, uploaded.stdout

    restored = f"mlflow_rt_r{uuid.uuid4().hex[:8]}"  # not created: the script makes it
    try:
        result = restore_with_the_documented_script(platform, postgres_server, backup.group(1), restored)
        assert result.returncode == 0, result.stdout + result.stderr
        for original, copy in ((platform.database, restored), (f"{platform.database}_auth", f"{restored}_auth")):
            assert every_row(postgres_server, copy) == every_row(postgres_server, original), copy
        with stopping(platform.on_database(restored).start_server("restored")) as again:
            assert experiment(again, vic, notes) == 403  # the DENY
            assert experiment(again, walt, notes) == 200  # the grant
            assert grant(again, nia, "mona@example.com", notes, "READ").status_code == 200  # nia still owns it
            assert grant(again, walt, "mona@example.com", notes, "READ").status_code == 403  # EDIT is not MANAGE
            assert experiment(again, nia, detector, "vision") == 403  # the team's workspace, nia outside it
            assert experiment(again, walt, detector, "vision") == 200  # walt in it through his group
            client = MlflowClient(again.url)
            assert [m.value for m in client.get_metric_history(run_id, "loss")] == [1 / (s + 1) for s in range(5)]
            downloaded = client.download_artifacts(run_id, "weights.txt", str(tmp_path))
            assert Path(downloaded).read_text() == "0.1 0.2"
        # Run again over the restored databases, the script keeps them aside rather than dropping them.
        again_result = restore_with_the_documented_script(platform, postgres_server, backup.group(1), restored)
        assert again_result.returncode == 0, again_result.stderr
        aside = [row[0] for row in postgres_server.query(
            "postgres", "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", f"{restored}%_before_restore_%")]
        assert len(aside) == 2, aside
    finally:
        for database in [row[0] for row in postgres_server.query(
                "postgres", "SELECT datname FROM pg_database WHERE datname LIKE %s", f"{restored}%")]:
            postgres_server.drop_database(database)


def test_the_write_only_backup_user_cannot_read_the_backups(teams_server: tuple[Platform, RunningServer]) -> None:
    """A stolen backup credential adds objects and reads nothing: not the dumps, not the artifacts."""
    platform, _ = teams_server
    secret = "mlflow-artifacts-backup-credentials"
    s3 = platform.s3.client("s3", (platform.cluster.secrets[(secret, "AWS_ACCESS_KEY_ID")],
                                   platform.cluster.secrets[(secret, "AWS_SECRET_ACCESS_KEY")]))
    platform.s3.client("s3").put_object(Bucket=platform.bucket, Key="backups/x/tracking.dump", Body=b"dump")
    forbidden: list[tuple[str, dict[str, Any]]] = [
        ("get_object", {"Key": "backups/x/tracking.dump"}),
        ("delete_object", {"Key": "backups/x/tracking.dump"}),
        ("put_object", {"Key": f"{platform.prefix}evil", "Body": b"x"}),
    ]
    with platform.s3.enforcing_iam():
        s3.put_object(Bucket=platform.bucket, Key="backups/y/tracking.dump", Body=b"dump")
        for method, arguments in forbidden:
            with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
                getattr(s3, method)(Bucket=platform.bucket, **arguments)
