"""Scheduled `mlflow gc`: runs, experiments and logged models deleted longer ago than the retention are purged,
their rows and their artifacts. MLflow keeps them forever otherwise (a soft delete only marks them).

From MLflow 3.17.2's source (mlflow/cli/__init__.py `gc`): a run's artifacts are deleted through the artifact
repository of its `artifact_uri`, then its rows. With proxied artifacts that URI is `mlflow-artifacts:/...`, which
MLflow resolves to the tracking server's HTTP API (an HTTP DELETE the server carries out, refused without an admin's
credentials under the auth app). The job resolves it as the server does instead, to the server's
--artifacts-destination (with the `workspaces/<name>/` prefix of `mlflow/server/handlers.py`
`_get_workspace_scoped_repo_path_if_enabled`), and deletes with its own access to the bucket.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.kube.cronjobs import scheduled_job
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import standard_labels
from mlflow_platform.kube.pods import PodSettings
from mlflow_platform.kube.scanner import SECRETS_AS_ENV, scanner_skips
from mlflow_platform.mlflow_server.migration import BACKEND_URI_ENV, MLFLOW_READS_ENV, SERVER_UID

OLDER_THAN_ENV = "MLFLOW_PLATFORM_GC_OLDER_THAN"
DESTINATION_ENV = "MLFLOW_PLATFORM_ARTIFACTS_DESTINATION"
ALL_WORKSPACES_ENV = "MLFLOW_PLATFORM_GC_ALL_WORKSPACES"

GC_FROM_ENVIRONMENT = (
    "import os, posixpath\n"
    "from urllib.parse import urlsplit\n"
    "import mlflow\n"
    "from mlflow.cli import cli\n"
    "from mlflow.server.handlers import _get_workspace_scoped_repo_path_if_enabled as scoped\n"
    "from mlflow.store.artifact.artifact_repository_registry import _artifact_repository_registry as registry\n"
    "from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository\n"
    f"uri, destination = os.environ['{BACKEND_URI_ENV}'], os.environ['{DESTINATION_ENV}'].rstrip('/')\n"
    "def proxied(artifact_uri, tracking_uri=None, registry_uri=None):\n"
    "    return get_artifact_repository(posixpath.join(destination, scoped(urlsplit(artifact_uri).path.lstrip('/'))))\n"
    "registry.register('mlflow-artifacts', proxied)\n"
    "mlflow.set_tracking_uri(uri)\n"
    f"workspaces = ['--all-workspaces'] if os.environ.get('{ALL_WORKSPACES_ENV}') == 'true' else []\n"
    f"cli.main(['gc', '--backend-store-uri', uri, '--older-than', os.environ['{OLDER_THAN_ENV}'], *workspaces],\n"
    "         prog_name='mlflow')\n"
)


def gc_env(older_than: str, all_workspaces: bool) -> list[dict[str, Any]]:
    return [
        {"name": OLDER_THAN_ENV, "value": older_than},
        {"name": ALL_WORKSPACES_ENV, "value": str(all_workspaces).lower()},
        # One connection per store (GC_CONNECTIONS): gc works one run at a time.
        {"name": "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "value": "1"},
        {"name": "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", "value": "0"},
    ]


def gc_cronjob(parent: pulumi.Resource, name: str, namespace: pulumi.Input[str], image: str, schedule: str,
               service_account: pulumi.Input[str], env: pulumi.Input[list[Any]],
               mounts: list[dict[str, Any]], volumes: list[dict[str, Any]], pods: PodSettings,
               resources: dict[str, Any]) -> k8s.batch.v1.CronJob:
    """`env` holds BACKEND_URI_ENV (from the URI Secret), the store's access, DESTINATION_ENV and gc_env()."""
    labels = standard_labels("mlflow", name, "gc")
    return k8s.batch.v1.CronJob(
        f"{name}-gc",
        metadata={"name": f"{name}-gc", "namespace": namespace, "labels": labels,
                  "annotations": scanner_skips({SECRETS_AS_ENV: MLFLOW_READS_ENV}, (image,))},
        spec=scheduled_job(schedule, labels, pods, {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(SERVER_UID),
            "containers": [{
                "name": "gc",
                **image_fields(image),
                "command": ["python", "-c", GC_FROM_ENVIRONMENT],
                "env": env,
                "resources": resources,
                "securityContext": container_security_context(),
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *mounts],
            }],
            "volumes": [empty_dir("tmp", "256Mi"), *volumes],
        }, deadline_seconds=6 * 3600),
        opts=pulumi.ResourceOptions(parent=parent),
    )
