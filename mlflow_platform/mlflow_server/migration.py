"""The schema migration: `mlflow db upgrade` once, in a Job the server's Deployment waits for.

Never a per-pod init container: two servers migrating an empty database race, and one crashes.
"""

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.kube.env import secret_env
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import standard_labels
from mlflow_platform.kube.resources import DEFAULT_RESOURCES
from mlflow_platform.kube.scanner import SECRETS_AS_ENV, scanner_skips
from mlflow_platform.kube.timeouts import job_timeout
from mlflow_platform.mlflow_postgres.roles import OWNER_AUTH_URI_KEY, OWNER_URI_KEY, DatabaseRoles, password_key
from mlflow_platform.mlflow_server.args import MlflowServerArgs
from mlflow_platform.mlflow_server.auth import AUTH_DATABASE_ENV
from mlflow_platform.mlflow_server.mlflow_platform_db_roles import ROLES_ENV, password_env
from mlflow_platform.mlflow_server.schema_check import with_schema_check

SERVER_UID = 10001
# Measured (tests/runtime/test_upgrades.py, docs/operations.md): 2.22.5 -> 3.17.2, 39 revisions on 1.1 M metric
# rows, 4.8 s, of which 3.3 s is starting MLflow; the only revision that reads a whole table indexes `metrics`.
# Half an hour leaves room for databases a thousand times larger on slower disks.
MIGRATION_DEADLINE_SECONDS = 1800
BACKEND_URI_ENV = "MLFLOW_BACKEND_STORE_URI"
# Why the server, jobs and migration pods keep secrets in environment variables (checkov CKV_K8S_35).
MLFLOW_READS_ENV = "MLflow reads its store URIs, keys and admin password only from environment variables"


# `mlflow db upgrade <uri>` run through MLflow's own CLI, with the URI read from the environment inside Python:
# as an argument (even as $(VAR), which the kubelet expands) the password would be in the process's argv, so in
# `ps`, /proc/<pid>/cmdline and the node's container config.
# With a URI the user keeps in a Secret of their own, the parameters in REQUIRED_QUERY_ENV (the TLS of
# externalDatabaseSslMode) are checked first: the Job fails, so `pulumi up` stops before the server rolls, instead of
# MLflow connecting with less than the stack declares.
REQUIRED_QUERY_ENV = "MLFLOW_PLATFORM_REQUIRED_URI_QUERY"
UPGRADE_FROM_ENVIRONMENT = (
    "import json, os, sys\n"
    "from sqlalchemy.engine import make_url\n"
    "from mlflow.cli import cli\n"
    f"uri = os.environ['{BACKEND_URI_ENV}']\n"
    f"required = json.loads(os.environ.get('{REQUIRED_QUERY_ENV}', '{{}}'))\n"
    "query = make_url(uri).query\n"
    "wrong = sorted(k for k, v in required.items() if query.get(k) != v)\n"
    "if wrong:\n"
    "    sys.exit('the database URI in the Secret lacks what the stack declares (externalDatabaseSslMode, '\n"
    "             'databaseCaSecret): ' + ', '.join(f'{k}={required[k]}' for k in wrong))\n"
    "cli.main(['db', 'upgrade', uri], prog_name='mlflow')\n"
)


def migration_container(image: str, env: list[dict[str, Any]], mounts: list[dict[str, Any]] | None = None,
                        env_from: tuple[dict[str, Any], ...] = (), resources: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
    """`env` holds BACKEND_URI_ENV (from the URI Secret) and the server's common environment; `mounts` what the
    database connection needs (its CA bundle)."""
    return {
        "name": "migrate",
        **image_fields(image),
        "command": ["python", "-c", UPGRADE_FROM_ENVIRONMENT],
        "env": env,
        **({"envFrom": list(env_from)} if env_from else {}),
        "resources": resources or DEFAULT_RESOURCES["migration"].to_kubernetes(),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *(mounts or [])],
    }


ROLES_REVISION = "mlflow-platform/database-roles"
ROLES_SCRIPT = (Path(__file__).parent / "mlflow_platform_db_roles.py").read_text()


def owner_env(roles: DatabaseRoles) -> dict[str, Any]:
    """The migration's tracking URI when the workloads have roles of their own: the owner's."""
    return secret_env(BACKEND_URI_ENV, roles.secret_name, OWNER_URI_KEY)


def owner_auth_env(roles: DatabaseRoles) -> dict[str, Any]:
    return secret_env(AUTH_DATABASE_ENV, roles.secret_name, OWNER_AUTH_URI_KEY)


def roles_container(migration: dict[str, Any], roles: DatabaseRoles, auth: bool) -> dict[str, Any]:
    """The Job's last step (mlflow_platform_db_roles.py), as the owner, after `migration` (whose owner URI, CA and
    temp volume it keeps): the roles and their grants in the tracking database, and the auth app's when `auth`."""
    # Not MLflow: none of the team's environment (extra_env, env_from) is for it.
    kept = [entry for entry in migration["env"] if entry["name"] in (BACKEND_URI_ENV, "HOME", "PYTHONUNBUFFERED")]
    return {
        **{key: value for key, value in migration.items() if key != "envFrom"},
        "name": "grant-roles",
        "command": ["python", "-c", ROLES_SCRIPT],
        "env": [*kept, *([owner_auth_env(roles)] if auth else []),
                {"name": ROLES_ENV, "value": json.dumps(roles.named(), sort_keys=True)},
                *(secret_env(password_env(kind), roles.secret_name, password_key(kind)) for kind in roles.named())],
    }


def roles_annotation(roles: DatabaseRoles | None) -> dict[str, pulumi.Input[str]] | None:
    """On the Job's and the server's pods: a new password replaces the Job (which sets it) and then rolls the
    pods (which read their URI at start)."""
    return {ROLES_REVISION: roles.revision} if roles and roles.revision is not None else None


def migration_job(parent: pulumi.Resource, name: str, args: MlflowServerArgs, service_account_name: pulumi.Input[str],
                  steps: list[dict[str, Any]], volumes: tuple[dict[str, Any], ...] = ()) -> k8s.batch.v1.Job:
    """The steps in order (the tracking migration, the auth database's, the schema check that follows them, the roles'
    grants): every one but the last an init container, so each starts only once the one before succeeded."""
    migration_labels = standard_labels("mlflow", name, "migration")
    *before, last = with_schema_check(steps)
    containers = {**({"initContainers": before} if before else {}), "containers": [last]}
    return k8s.batch.v1.Job(
        f"{name}-migrate",
        # No fixed name: a new image replaces the Job, so the schema upgrade runs before the rollout.
        metadata={"namespace": args.namespace, "labels": migration_labels,
                  "annotations": scanner_skips({SECRETS_AS_ENV: MLFLOW_READS_ENV}, (args.image,))},
        spec={
            "backoffLimit": 10,
            "activeDeadlineSeconds": MIGRATION_DEADLINE_SECONDS,
            "template": args.pods.template(migration_labels, annotations=roles_annotation(args.database_roles),
                                           spec={
                "restartPolicy": "OnFailure",
                "serviceAccountName": service_account_name,
                "automountServiceAccountToken": False,
                "securityContext": pod_security_context(SERVER_UID),
                **containers,
                "volumes": [empty_dir("tmp", "256Mi"), *volumes],
            }),
        },
        # The first `up` pulls the -full image here; upgrades of a large database take minutes.
        opts=pulumi.ResourceOptions(parent=parent, custom_timeouts=job_timeout(MIGRATION_DEADLINE_SECONDS)),
    )
