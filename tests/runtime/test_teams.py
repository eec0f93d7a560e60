"""Teams as MLflow workspaces (authWorkspaces): the server and migration Job as the stack declares them,
against real PostgreSQL, with identities from a real OpenID provider and the real MLflow client.

MLflow's model with workspaces on (mlflow/server/auth/__init__.py, 3.17): creating anything in a
workspace needs a workspace-wide USE or MANAGE grant (`_can_create_in_workspace`); without one, a
user has no presence there (NO_PERMISSIONS); with USE, what nobody granted is read at the default
permission. The stack makes each team's members USE and managers MANAGE through two roles per
workspace, and keeps the default workspace as it is without workspaces.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from harness import ProgramRun, run_program
from runtime.auth_calls import ADMIN, PROGRAMS, admin, call, create_experiment, person
from runtime.clients import kubelet_probe
from runtime.identity_provider import IdentityProvider, identity_provider
from runtime.platform import Platform, RunningServer, migrated_server, stopping
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime

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
                               "authWorkspaces": TEAMS})


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


def test_the_backup_holds_every_permission_and_a_restore_brings_them_back(
        teams_server: tuple[Platform, RunningServer], postgres_server: PostgresServer,
        providers: dict[str, IdentityProvider], tmp_path: Path) -> None:
    """The backup CronJob's dump script as declared dumps the auth app's database beside the tracking one: restored
    into a fresh database, its every table (users, roles with their workspace grants, assignments) is as it was.
    Without it, a restore left everything readable at the default permission."""
    platform, server = teams_server
    vic, mona = person(providers, "vic"), person(providers, "mona")
    assert call(server, "GET", "/api/2.0/mlflow/experiments/search?max_results=1",
                person(providers, "nia")).status_code == 200  # nia signs in once: MLflow knows her
    experiment_id = create_experiment(server, vic, "backed-up-detector", workspace="vision")
    granted = call(server, "POST", "/api/3.0/mlflow/users/permissions/grant", mona, workspace="vision", json={
        "username": "nia@example.com", "resource_type": "experiment", "resource_id": experiment_id,
        "permission": "READ"})
    assert granted.status_code == 200, granted.text
    dumped = platform.backup(tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    assert (tmp_path / "tracking.dump").stat().st_size > 0
    original, restored = f"{platform.database}_auth", postgres_server.create_database("mlflow_rt_restored_auth")
    try:
        postgres_server.restore(tmp_path / "auth.dump", restored)
        tables = [row[0] for row in postgres_server.query(
            original, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        assert {"users", "roles", "role_permissions", "user_role_assignments"} <= set(tables)

        def rows(database: str, table: str) -> list[str]:
            return sorted(map(repr, postgres_server.query(database, f'SELECT * FROM "{table}"')))

        for table in tables:
            assert rows(restored, table) == rows(original, table), table
        assert any("nia@example.com" in row for row in rows(restored, "users"))
        assert len(rows(restored, "role_permissions")) > 0
    finally:
        postgres_server.drop_database(restored)
