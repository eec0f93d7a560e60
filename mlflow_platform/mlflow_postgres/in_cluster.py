"""The dev database: a single-replica PostgreSQL StatefulSet with its own volume."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlflow_platform.kube.cronjobs import scheduled_job
from mlflow_platform.kube.env import secret_env
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context, secret_files
from mlflow_platform.kube.hardening import data_volume as data_volume_claim
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.kube.scanner import HIGH_UID, SECRETS_AS_ENV, scanner_skips
from mlflow_platform.kube.timeouts import POSTGRES_IMAGE_MEGABYTES, await_timeout, probe_budget_seconds
from mlflow_platform.mlflow_postgres.args import AUTH_DATABASE, MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.endpoint import POSTGRES_PORT, DatabaseEndpoint
from mlflow_platform.mlflow_postgres.roles import DatabaseRoles, password_key
from mlflow_platform.mlflow_postgres.tuning import postgres_settings
from mlflow_platform.versions import POSTGRES_UID

EXPORTER_PORT = 9187
# The password as a file, not an environment variable: the image's entrypoint reads POSTGRES_PASSWORD_FILE
# (docker-library's file_env) and postgres_exporter DATA_SOURCE_PASS_FILE.
CREDENTIALS_DIR = "/etc/postgresql-credentials"
PASSWORD_FILE = f"{CREDENTIALS_DIR}/password"
# pg_dump and the upload are clients: any uid works (PGUSER names the role), so the backup runs as a high one.
BACKUP_UID = 10001
BACKUP_SKIPS = {
    SECRETS_AS_ENV: "pg_dump reads PGPASSWORD and boto3 AWS_SECRET_ACCESS_KEY; a .pgpass must be mode 0600 and a "
                    "Secret volume under fsGroup is group-readable",
}
# The image's data directory belongs to its postgres user, and postgres refuses a data directory another uid owns.
POSTGRES_SKIPS = {HIGH_UID: "postgres must run as the uid that owns its data directory: the image's postgres user 999"}
# pg_dump reads host, port, user, database and password from PG* variables. Everything MLflow keeps: the tracking
# database, and the auth app's beside it (users, grants, ownership, the teams' workspace roles) when the app made one
# (the migration Job creates it only with authEnabled). The runtime tests run this script as declared.
# The grants stay in the dump (not --no-privileges): restored, the roles find what they may do on each table.
DUMP_OPTIONS = "--format=custom --compress=6 --no-owner"
DUMP_SCRIPT = f"""set -eu
pg_dump {DUMP_OPTIONS} --file="$BACKUP_DIR/tracking.dump"
found=$(echo "SELECT 1 FROM pg_database WHERE datname = :'db'" | psql -X -q -A -t -v ON_ERROR_STOP=1 -v "db=$AUTH_PGDATABASE")
if [ "$found" = 1 ]; then
  pg_dump {DUMP_OPTIONS} --dbname="$AUTH_PGDATABASE" --file="$BACKUP_DIR/auth.dump"
fi
"""
BACKUP_COMMAND = ["/bin/sh", "-c", DUMP_SCRIPT]
BACKUP_DIR_ENV = {"name": "BACKUP_DIR", "value": "/backup"}
# One backup is a directory of the bucket named by its UTC time, holding each database's dump, uploaded with boto3 in
# MLflow's image (MinIO's mc comes from an archived project). The write-only user may put objects, not read them back.
# The scripts name the shared volume by BACKUP_DIR (the runtime tests point it at a local directory and the S3
# endpoint at a local S3 server, and run both as declared).
UPLOAD_SCRIPT = """import datetime, os, pathlib
import boto3
from botocore.config import Config
directory, bucket, prefix = pathlib.Path(os.environ["BACKUP_DIR"]), os.environ["BUCKET"], os.environ["PREFIX"]
dumps = sorted(directory.glob("*.dump"))
if "tracking.dump" not in [dump.name for dump in dumps]:
    raise SystemExit(f"no tracking.dump in {directory}: the dump step did not run")
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], config=Config(s3={"addressing_style": "path"}))
for dump in dumps:
    s3.upload_file(str(dump), bucket, f"{prefix}{stamp}/{dump.name}")
print(f"uploaded s3://{bucket}/{prefix}{stamp}/: " + ", ".join(dump.name for dump in dumps))
"""
UPLOAD_COMMAND = ["python", "-c", UPLOAD_SCRIPT]



def role_login(roles: DatabaseRoles | None, kind: str, owner: str, credentials: pulumi.Input[str]
               ) -> tuple[str, pulumi.Input[str], str]:
    """Who a workload connects as: its role (user, the roles Secret, that Secret's key), else the owner."""
    if roles and (name := roles.named().get(kind)):
        return name, roles.secret_name, password_key(kind)
    return owner, credentials, "password"


def in_cluster_database(parent: pulumi.Resource, name: str, args: MlflowPostgresArgs,
                        roles: DatabaseRoles | None = None) -> DatabaseEndpoint:
    child = pulumi.ResourceOptions(parent=parent)
    labels = standard_labels("postgresql", name, "database")
    selector = selector_labels("postgresql", name, "database")
    metadata = {"namespace": args.namespace, "labels": labels}

    password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
    credentials = k8s.core.v1.Secret(
        f"{name}-credentials",
        metadata={**metadata, "name": f"{name}-credentials"},
        type="Opaque",
        string_data={"password": password.result},
        opts=child,
    )

    data_volume = data_volume_claim(f"{name}-data", metadata, args.storage_size, args.storage_class, parent,
                                    retain=args.data_protection)

    service = k8s.core.v1.Service(
        f"{name}-headless",
        metadata={**metadata, "name": name},
        spec={
            "clusterIP": "None",
            "selector": selector,
            "ports": [{"name": "postgresql", "port": POSTGRES_PORT, "targetPort": "postgresql"},
                      *([{"name": "metrics", "port": EXPORTER_PORT, "targetPort": "metrics"}] if args.metrics_exporter else [])],
        },
        opts=child,
    )

    credentials_mount = {"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True}
    exporter: list[dict[str, Any]] = []
    exporter_volumes: list[dict[str, Any]] = []
    if args.metrics_exporter:
        user, secret, key = role_login(roles, "monitor", args.username, credentials.metadata.name)
        exporter_volumes.append({"name": "exporter-credentials",
                                 "secret": {"secretName": secret, "items": [{"key": key, "path": "password"}]}})
        # postgres_exporter as a sidecar: pg_up and connection counts for the alerts and the dashboard.
        exporter.append({
            "name": "metrics",
            **image_fields(args.exporter_image),
            "env": [
                {"name": "DATA_SOURCE_URI", "value": f"127.0.0.1:{POSTGRES_PORT}/{args.database}?sslmode=disable"},
                {"name": "DATA_SOURCE_USER", "value": user},
                {"name": "DATA_SOURCE_PASS_FILE", "value": PASSWORD_FILE},
            ],
            "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT}],
            "resources": args.sizes.of("postgresExporter"),
            "securityContext": container_security_context(),
            "volumeMounts": [{**credentials_mount, "name": "exporter-credentials"}],
        })
    pg_isready = ["pg_isready", "--host=127.0.0.1", f"--username={args.username}", f"--dbname={args.database}"]
    probes = {
        # During initdb the server listens on the socket only, so TCP
        # pg_isready stays false until the database really accepts clients.
        "startupProbe": {"exec": {"command": pg_isready}, "periodSeconds": 5, "failureThreshold": 60},
        "readinessProbe": {"exec": {"command": pg_isready}, "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {"exec": {"command": pg_isready}, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 6},
    }
    statefulset = k8s.apps.v1.StatefulSet(
        name,
        metadata={**metadata, "name": name, "annotations": scanner_skips(
            POSTGRES_SKIPS, (args.image, *([args.exporter_image] if args.metrics_exporter else [])))},
        spec={
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": args.pods.metadata(labels),
                "spec": {
                    **args.pods.spec(),
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(POSTGRES_UID),
                    "terminationGracePeriodSeconds": 60,
                    "containers": [
                        {
                            "name": "postgresql",
                            **image_fields(args.image),
                            # The image's entrypoint prepends `postgres` to arguments starting with '-'.
                            "args": [part for key, value in postgres_settings(args.resources.memory_limit,
                                                                              args.max_connections).items()
                                     for part in ("-c", f"{key}={value}")],
                            "ports": [{"name": "postgresql", "containerPort": POSTGRES_PORT}],
                            "env": [
                                {"name": "POSTGRES_USER", "value": args.username},
                                {"name": "POSTGRES_DB", "value": args.database},
                                {"name": "POSTGRES_PASSWORD_FILE", "value": PASSWORD_FILE},
                                # A subdirectory: the volume root may hold lost+found, which initdb refuses.
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                            ],
                            "resources": args.resources.to_kubernetes(),
                            "securityContext": container_security_context(),
                            **probes,
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                                {"name": "tmp", "mountPath": "/tmp"},
                                credentials_mount,
                            ],
                        },
                        *exporter,
                    ],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": data_volume.metadata.name}},
                        secret_files("credentials", credentials.metadata.name),
                        empty_dir("run", "16Mi"),
                        empty_dir("tmp", "1Gi"),
                        *exporter_volumes,
                    ],
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[credentials], custom_timeouts=await_timeout(
            POSTGRES_IMAGE_MEGABYTES, probe_budget_seconds(probes))),
    )


    host = pulumi.Output.concat(service.metadata.name, ".", args.namespace, ".svc.cluster.local")
    if args.backup:
        _backup_cronjob(parent, name, args, host, role_login(roles, "backup", args.username, credentials.metadata.name))
    return DatabaseEndpoint(
        host=host,
        port=pulumi.Output.from_input(POSTGRES_PORT),
        password=password.result,
        ready=[statefulset],
        pod_selector=selector,
    )


def _backup_cronjob(parent: pulumi.Resource, name: str, args: MlflowPostgresArgs, host: pulumi.Output[str],
                    login: tuple[str, pulumi.Input[str], str]) -> None:
    """A logical backup on a schedule: pg_dump (custom format) to a scratch volume, then boto3 uploads it."""
    assert args.backup is not None
    labels = standard_labels("postgresql", name, "backup")
    target = args.backup
    small = args.sizes.of("backup")
    k8s.batch.v1.CronJob(
        f"{name}-backup",
        metadata={"name": f"{name}-backup", "namespace": args.namespace, "labels": labels,
                  "annotations": scanner_skips(BACKUP_SKIPS, (args.image, args.backup_image))},
        spec=scheduled_job(args.backup_schedule, labels, args.pods, {
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(BACKUP_UID),
            "initContainers": [{
                "name": "dump",
                **image_fields(args.image),
                "command": BACKUP_COMMAND,
                "env": [
                    {"name": "PGHOST", "value": host},
                    {"name": "PGPORT", "value": str(POSTGRES_PORT)},
                    {"name": "PGUSER", "value": login[0]},
                    {"name": "PGDATABASE", "value": args.database},
                    {"name": "AUTH_PGDATABASE", "value": AUTH_DATABASE},
                    BACKUP_DIR_ENV,
                    secret_env("PGPASSWORD", login[1], login[2]),
                ],
                "resources": small,
                "securityContext": container_security_context(),
                "volumeMounts": [{"name": "backup", "mountPath": "/backup"},
                                 {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "containers": [{
                "name": "upload",
                **image_fields(args.backup_image),
                "command": UPLOAD_COMMAND,
                "env": [
                    secret_env("AWS_ACCESS_KEY_ID", target.credentials_secret_name, "AWS_ACCESS_KEY_ID"),
                    secret_env("AWS_SECRET_ACCESS_KEY", target.credentials_secret_name,
                               "AWS_SECRET_ACCESS_KEY"),
                    {"name": "S3_ENDPOINT_URL", "value": target.endpoint_url},
                    {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
                    {"name": "BUCKET", "value": target.bucket},
                    {"name": "PREFIX", "value": target.prefix},
                    BACKUP_DIR_ENV,
                ],
                "resources": small,
                "securityContext": container_security_context(),
                "volumeMounts": [{"name": "backup", "mountPath": "/backup", "readOnly": True},
                                 {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [empty_dir("backup", args.storage_size), empty_dir("tmp", "64Mi")],
        }, deadline_seconds=3600),
        opts=pulumi.ResourceOptions(parent=parent),
    )
