"""What a team adds to the MLflow containers beyond what the platform sets: environment (MLflow reads most of its
settings from MLFLOW_* variables), Secrets and ConfigMaps as environment, volumes, and `mlflow server` flags.
Nothing here may replace what the platform sets, which the rest of the stack (probes, NetworkPolicies, budget,
secrets handling) is built on."""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow_platform.mlflow_postgres.roles import ROLE_KINDS
from mlflow_platform.mlflow_server.mlflow_platform_db_roles import ROLES_ENV, password_env
from mlflow_platform.validation import dns_label_problem, dns_subdomain_problem

# Every variable the platform sets in a server, jobs or migration container, in any configuration
# (tests/components/test_server_extensions.py renders them all and checks this covers each).
PLATFORM_ENV = frozenset({
    "POD_IP", "HOME", "PYTHONUNBUFFERED", "PYTHONPATH", "MLFLOW_DISABLE_TELEMETRY",
    "MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_DATABASE_URI", "MLFLOW_TRUNCATE_LONG_VALUES",
    "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "MLFLOW_SERVER_JOB_EXECUTION_ENGINE", "MLFLOW_GATEWAY_URI",
    "_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN", "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS",
    "MLFLOW_CRYPTO_KEK_PASSPHRASE", "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_PLATFORM_AUTH_CONFIG", "MLFLOW_S3_ENDPOINT_URL", "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION", "AWS_DEFAULT_REGION", "PROMETHEUS_MULTIPROC_DIR", "METRICS_PORT", "SERVER_HEALTH_URL",
    "MLFLOW_PLATFORM_REQUIRED_URI_QUERY",
    ROLES_ENV, *(password_env(kind) for kind in ROLE_KINDS),
})
# The `mlflow server` options of 3.17.2 (mlflow/cli/__init__.py, `server`) a team may add. The others are the
# platform's (where it listens, the stores, the artifact proxy, workers, host and origin checks, metrics, the auth
# app and workspaces, the prefix: serverStaticPrefix), serve another runner (gunicorn, waitress, --dev), or carry a
# database password (--read-replica-backend-store-uri), which must not reach a command line.
USER_FLAGS = ("--secrets-cache-ttl", "--secrets-cache-max-size", "--trace-archival-config", "--x-frame-options")
# Volumes and mount paths of the platform's in any configuration (the same test checks these).
PLATFORM_VOLUMES = ("tmp", "metrics", "shm", "auth-module", "auth-ini", "database-ca", "database")
PLATFORM_PATHS = ("/tmp", "/dev/shm", "/var/run/mlflow", "/opt/mlflow-platform", "/etc/mlflow-platform",
                  "/var/lib/mlflow")
# The volume types the restricted Pod Security Standard admits (kubernetes.io/docs/concepts/security/
# pod-security-standards): the namespace enforces it, so any other type is refused when the pod is created.
RESTRICTED_VOLUME_SOURCES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                             "projected", "secret")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_FLAG = re.compile(r"--[a-z][a-z0-9-]*(=.*)?", re.DOTALL)
ENV_FROM_SOURCES = ("secretRef", "configMapRef")
VOLUME_MOUNT_FIELDS = ("name", "mountPath", "readOnly", "subPath", "subPathExpr", "mountPropagation",
                       "recursiveReadOnly")


def env_problems(env: Mapping[str, Any]) -> list[str]:
    problems = [f"{name!r} is not an environment variable name" for name in env if not _ENV_NAME.fullmatch(name)]
    problems += [f"{name} is set by the platform" for name in env if name in PLATFORM_ENV]
    problems += [f"{name}: the value must be a string, got {value!r}" for name, value in env.items()
                 if not isinstance(value, str)]
    return problems


def env_from_problems(sources: Sequence[Any]) -> list[str]:
    """core/v1 EnvFromSource: a Secret or ConfigMap by name, with an optional prefix. Variables they hold that the
    platform also sets are hidden by the platform's (a container's env wins over envFrom)."""
    problems = []
    for index, source in enumerate(sources):
        kinds = [kind for kind in ENV_FROM_SOURCES if isinstance(source, dict) and kind in source]
        extra = [k for k in source if k not in (*ENV_FROM_SOURCES, "prefix")] if isinstance(source, dict) else []
        name = source[kinds[0]].get("name") if len(kinds) == 1 and isinstance(source[kinds[0]], dict) else None
        if len(kinds) != 1 or extra or not isinstance(name, str) or dns_subdomain_problem(name):
            problems.append(f"[{index}] {source!r} is not {{\"secretRef\": {{\"name\": ...}}}} or "
                            "{\"configMapRef\": {\"name\": ...}} (with an optional \"prefix\")")
    return problems


def volume_problems(volumes: Sequence[Any], mounts: Sequence[Any]) -> list[str]:
    problems = []
    names: list[str] = []
    for index, volume in enumerate(volumes):
        name = volume.get("name") if isinstance(volume, dict) else None
        if not isinstance(name, str) or dns_label_problem(name) or len(volume) != 2:
            problems.append(f"volume [{index}] {volume!r} needs a name (a DNS label) and exactly one source "
                            "(secret, configMap, persistentVolumeClaim, emptyDir, csi, ...)")
        elif not set(volume) - {"name"} <= set(RESTRICTED_VOLUME_SOURCES):
            problems.append(f"volume {name!r}: {', '.join(sorted(set(volume) - {'name'}))} is not allowed in a "
                            "namespace that enforces the restricted Pod Security Standard; use one of "
                            + ", ".join(RESTRICTED_VOLUME_SOURCES))
        elif name in PLATFORM_VOLUMES or name in names:
            problems.append(f"volume name {name!r} is taken")
        else:
            names.append(name)
    for index, mount in enumerate(mounts):
        if not isinstance(mount, dict) or any(key not in VOLUME_MOUNT_FIELDS for key in mount):
            problems.append(f"mount [{index}] {mount!r} is not a volume mount ({', '.join(VOLUME_MOUNT_FIELDS)})")
            continue
        path = mount.get("mountPath")
        if mount.get("name") not in names:
            problems.append(f"mount [{index}] names {mount.get('name')!r}, which is not one of the extra volumes")
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append(f"mount [{index}] needs an absolute mountPath")
        elif any(path == taken or path.startswith(taken.rstrip("/") + "/") or taken.startswith(path.rstrip("/") + "/")
                 for taken in PLATFORM_PATHS):
            problems.append(f"mount [{index}] {path!r} overlaps a path the platform mounts "
                            f"({', '.join(PLATFORM_PATHS)})")
    return problems


def flag_problems(flags: Sequence[str]) -> list[str]:
    """Each item one `--flag` or `--flag=value` (a value with its flag, so nothing is read as a positional)."""
    problems = []
    for flag in flags:
        if len(flag) > 1024 or not _FLAG.fullmatch(flag):
            problems.append(f"{flag[:80]!r} is not --option or --option=value (up to 1024 characters)")
        elif flag.split("=", 1)[0] not in USER_FLAGS:
            problems.append(f"{flag.split('=', 1)[0]} is not one you may add (the platform sets the others, or they "
                            f"carry a password): {', '.join(USER_FLAGS)}")
        if "$(" in flag:
            # The kubelet expands $(VAR) in args: a secret from the environment would land in the process's argv.
            problems.append(f"{flag!r}: $(...) is expanded by the kubelet into the command line; set it in the "
                            "environment instead")
    return problems


_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")


def static_prefix_problem(prefix: str) -> str | None:
    """A path MLflow can serve under (--static-prefix) and an Ingress can route: /segment[/segment...], no trailing
    slash, no characters a URL would escape."""
    if prefix and (len(prefix) > 255 or not _PREFIX.fullmatch(prefix)):
        return (f"static prefix {prefix[:80]!r} is not a path like /mlflow (segments of letters, digits, '.', '_', '~', '-', "
                "no trailing slash, up to 255 characters)")
    return None
