"""Creates MLflow's auth database if it is missing, then migrates it to the auth app's schema.

Run once by the migration Job before any server starts: servers migrate an empty auth database at
start-up too, without a lock, and several replicas doing it at once race (mlflow/server/auth/
sqlalchemy_store.py init_db -> db/utils.py migrate_if_needed). Both URIs come from the environment
(Secret references), never from the command line.

With teams, it then creates each team's workspace and the roles that carry membership: MLflow
resolves a request's workspace before authenticating it (an unknown one answers 404), so they must
exist before a member's first request. Nothing is deleted: a team dropped from the config keeps its
workspace and data, and its members lose their roles on their next request.
"""

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy
from mlflow.server.auth.db import utils

if TYPE_CHECKING:  # in the image it runs next to the identity module, outside this package
    from .mlflow_platform_auth import CONFIG_ENV, DEFAULT_WORKSPACE, TEAM_ROLES, Config
else:
    from mlflow_platform_auth import CONFIG_ENV, DEFAULT_WORKSPACE, TEAM_ROLES, Config


def main() -> None:
    auth_url = sqlalchemy.engine.make_url(os.environ["MLFLOW_AUTH_DATABASE_URI"])
    name = auth_url.database or ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit(f"refusing to create a database named {name!r}")
    # The tracking database exists already (the tracking migration ran first): connect there to create.
    tracking = sqlalchemy.create_engine(os.environ["MLFLOW_BACKEND_STORE_URI"], isolation_level="AUTOCOMMIT")
    with tracking.connect() as connection:
        exists = connection.execute(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        if exists.scalar() is None:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
            print(f"created database {name}")
    tracking.dispose()
    engine = sqlalchemy.create_engine(auth_url)
    utils.migrate(engine, "head")
    engine.dispose()
    print(f"auth database {name} is at the auth app's head revision")
    config = Config.from_json(Path(os.environ[CONFIG_ENV]).read_text())
    if config.teams:
        create_team_workspaces(config, os.environ["MLFLOW_BACKEND_STORE_URI"], os.environ["MLFLOW_AUTH_DATABASE_URI"])


def team_role_grants(level: str, default_permission: str) -> dict[tuple[str, str], str]:
    """What a team role grants: the level on the workspace and, for members, the default permission on
    every kind of resource in it. MLflow's workspace-wide USE lets a member create but not see what
    others made (fold_grants_for_key ignores it for an experiment); per-type wildcard grants are how
    MLflow itself expresses "everything of this type in the workspace" (permissions.py, TYPE)."""
    from mlflow.server.auth.permissions import RESOURCE_GRANTABLE_PERMISSIONS, TYPE, PatternKind

    grants = {("workspace", "*"): level}
    if level == "USE" and default_permission in RESOURCE_GRANTABLE_PERMISSIONS:
        grants |= {(kind, "*"): default_permission for kind, grains in TYPE.items()
                   if kind != "workspace" and PatternKind.ID in grains}
    return grants


def create_team_workspaces(config: Config, tracking_uri: str, auth_uri: str) -> None:
    from mlflow.entities.workspace import Workspace
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as AuthStore
    from mlflow.store.workspace.sqlalchemy_store import SqlAlchemyStore as WorkspaceStore

    workspaces = WorkspaceStore(tracking_uri)
    existing = {workspace.name for workspace in workspaces.list_workspaces()}
    for team in config.teams:
        if team.workspace not in existing:
            workspaces.create_workspace(Workspace(name=team.workspace, description="a team of mlflow-platform"))
            print(f"created workspace {team.workspace}")
    auth = AuthStore()
    auth.init_db(auth_uri)
    # The default workspace's members role only opens creation there: reads of what nobody granted come
    # from grant_default_workspace_access, as without workspaces.
    roles = [(DEFAULT_WORKSPACE, "USE", {("workspace", "*"): "USE"})]
    roles += [(team.workspace, level, team_role_grants(level, config.default_permission))
              for team in config.teams for level in TEAM_ROLES]
    for workspace, level, grants in roles:
        try:
            role = auth.get_role_by_name(workspace, TEAM_ROLES[level])
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            role = auth.create_role(TEAM_ROLES[level], workspace, description=f"{level} on the workspace (mlflow-platform)")
            print(f"created role {role.name} in workspace {workspace}")
        held = {(p.resource_type, p.resource_pattern): p for p in auth.list_role_permissions(role.id)}
        for key, held_permission in held.items():
            if key not in grants:
                auth.remove_role_permission(held_permission.id)
            elif held_permission.permission != grants[key]:
                auth.update_role_permission(held_permission.id, grants[key])
        for (kind, pattern), permission in grants.items():
            if (kind, pattern) not in held:
                auth.add_role_permission(role.id, kind, pattern, permission)

if __name__ == "__main__":
    main()
