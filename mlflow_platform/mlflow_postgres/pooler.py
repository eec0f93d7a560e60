"""PgBouncer in transaction mode between the server pods and PostgreSQL (databasePooler): a Deployment behind a Service,
its pgbouncer.ini and userlist.txt in a Secret.

Why transaction pooling is safe for MLflow's server (checked in MLflow 3.17.2's and 3.18.0's source):
- psycopg2 prepares nothing on the server: it interpolates parameters client-side and sends simple queries, so no
  prepared statement outlives the transaction it ran in (PgBouncer's max_prepared_statements is not needed).
- `create_sqlalchemy_engine` (mlflow/store/db/utils.py) sets only pool_size, max_overflow, pool_recycle, echo, the
  pool class and `pool_pre_ping=True`; no `connect_args` options, no session `SET` for PostgreSQL. The `SET` statements
  in mlflow/store/tracking/sqlalchemy_store.py are MySQL's (sql_mode) and SQL Server's (IDENTITY_INSERT); the one
  for PostgreSQL, in mlflow/store/db/trace_analytics.py, is `SET LOCAL lock_timeout`, which ends with its transaction.
  Isolation levels (sql_trace_rollups.py) go through psycopg2's BEGIN, also per transaction.
- Row locks (`with_for_update`, the job store's leases in mlflow/store/jobs/sqlalchemy_store.py) live in their
  transaction; no advisory lock, LISTEN/NOTIFY or temporary table anywhere in mlflow/store or mlflow/server.
- Server-side jobs queue in Huey's SQLite file (or Redis), not in PostgreSQL (mlflow/server/jobs/utils.py).
What needs a session of its own bypasses the pooler: the migration. `_upgrade_db` (mlflow/store/db/utils.py) runs every
alembic revision on one shared connection "ensuring that any connection-dependent state ... is preserved", and
revisions read and write in batches across statements (75868b020152_add_sql_trace_analytics_schema.py); so the Job
connects to the database itself (DIRECT_URI_SECRET_KEY, or the owner's URIs with roles). pg_dump (backups) too.

The pods reach PgBouncer without TLS, inside the NetworkPolicies, as they reach the in-cluster database; PgBouncer
reaches the database with the TLS the URI would have used (sslmode and CA).
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform.kube.disruption import one_at_a_time
from mlflow_platform.kube.hardening import container_security_context, empty_dir, pod_security_context, secret_files
from mlflow_platform.kube.images import image_fields
from mlflow_platform.kube.labels import selector_labels, standard_labels
from mlflow_platform.kube.service import cluster_ip_service
from mlflow_platform.mlflow_postgres.args import AUTH_DATABASE, ConnectionPooler, MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.endpoint import CA_MOUNT, DatabaseEndpoint, ca_volume

POOLER_PORT = 6432
CONFIG_DIR = "/etc/pgbouncer"
CONFIG_FILE = "pgbouncer.ini"
USERLIST_FILE = "userlist.txt"
# What the pods' URIs carry to PgBouncer: no TLS on this hop (see above); explicit, so nothing falls back silently.
POOLED_QUERY = {"sslmode": "disable"}
CONFIG_REVISION = "mlflow-platform/pooler-config"
# Not the image's pgbouncer user (998): a high uid, as the other workloads (checkov CKV_K8S_40). PgBouncer needs no
# passwd entry and writes nothing (no Unix socket, no pid or log file); it reads its Secret through fsGroup.
POOLER_UID = 10001


def quoted(value: str) -> str:
    """A userlist.txt field: in double quotes, a double quote doubled (PgBouncer's auth_file format)."""
    return '"' + value.replace('"', '""') + '"'


def pgbouncer_ini(host: str, port: int, databases: Sequence[str], pooler: ConnectionPooler,
                  server_tls: Mapping[str, str], listen_port: int = POOLER_PORT,
                  auth_file: str = f"{CONFIG_DIR}/{USERLIST_FILE}") -> str:
    """PgBouncer's configuration: each database to the same server, transaction pooling, SCRAM for clients (the
    userlist's plain passwords let PgBouncer log in to the server with whatever method it asks), at most
    pool_size server connections per database (max_db_connections: whoever connects), none reserved or kept idle.
    `server_tls` is the database URI's libpq query (sslmode, sslrootcert); the runtime tests render the same text."""
    entries = "".join(f"{database} = host={host} port={port} dbname={database}\n" for database in databases)
    tls = [f"server_tls_sslmode = {server_tls.get('sslmode', 'prefer')}",
           *([f"server_tls_ca_file = {server_tls['sslrootcert']}"] if "sslrootcert" in server_tls else [])]
    settings = [
        "listen_addr = *",
        f"listen_port = {listen_port}",
        # No Unix socket: the root filesystem is read-only and every client comes over TCP.
        "unix_socket_dir =",
        "pool_mode = transaction",
        "auth_type = scram-sha-256",
        f"auth_file = {auth_file}",
        f"default_pool_size = {pooler.pool_size}",
        "min_pool_size = 0",
        "reserve_pool_size = 0",
        f"max_db_connections = {pooler.pool_size}",
        f"max_client_conn = {pooler.max_client_connections}",
        # A client waiting longer for a server connection fails, as SQLAlchemy's pool fails after its 30 s timeout
        # on the direct path: MLflow's log_batch holds one connection while it takes a second, so a pool smaller than
        # the concurrent log_batch calls can leave them all waiting (measured: docs/performance.md).
        "query_wait_timeout = 30",
        *tls,
        # Every SQLAlchemy pool connects and disconnects often enough to flood the log.
        "log_connections = 0",
        "log_disconnections = 0",
    ]
    return ("; Rendered by mlflow-platform (mlflow_platform/mlflow_postgres/pooler.py).\n[databases]\n" + entries
            + "\n[pgbouncer]\n" + "\n".join(settings) + "\n")


def userlist(users: Mapping[str, str]) -> str:
    return "".join(f"{quoted(user)} {quoted(password)}\n" for user, password in sorted(users.items()))


@dataclass(frozen=True)
class PoolerEndpoint:
    host: pulumi.Output[str]
    """The Service's DNS name."""
    port: int
    selector: dict[str, str]
    """Labels of the PgBouncer pods."""


def pooler_workload(parent: pulumi.Resource, name: str, args: MlflowPostgresArgs, endpoint: DatabaseEndpoint,
                    user: str, password: pulumi.Input[str]) -> PoolerEndpoint:
    """The Secret, Deployment, Service and (from two pods) PodDisruptionBudget of `args.pooler`, in front of
    `endpoint`; every client logs in as `user` (the app role with roles, else the owner)."""
    pooler = args.pooler
    assert pooler is not None
    pooler_name = f"{name}-pooler"
    labels = standard_labels("pgbouncer", name, "pooler")
    selector = selector_labels("pgbouncer", name, "pooler")
    metadata = {"namespace": args.namespace, "labels": labels}
    databases = (args.database, AUTH_DATABASE)
    files = pulumi.Output.all(endpoint.host, endpoint.port, password).apply(lambda parts: {
        CONFIG_FILE: pgbouncer_ini(parts[0], int(parts[1]), databases, pooler, endpoint.query),
        USERLIST_FILE: userlist({user: parts[2]}),
    })
    config = k8s.core.v1.Secret(
        pooler_name,
        metadata={**metadata, "name": pooler_name},
        type="Opaque",
        string_data=pulumi.Output.secret(files),  # type: ignore[arg-type]
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # PgBouncer reads its files at start: a new password or database host rolls the pods. A digest of ~190 random
    # bits tells nothing about the password (roles.py passwords_revision), so it is no secret.
    revision = pulumi.Output.unsecret(files.apply(
        lambda rendered: hashlib.sha256("\n".join(rendered[key] for key in sorted(rendered)).encode()).hexdigest()[:16]))
    probe = {"tcpSocket": {"port": "pgbouncer"}}
    ca = ([ca_volume(args.ca_secret)], [CA_MOUNT]) if args.ca_secret else ([], [])
    container: dict[str, Any] = {
        "name": "pgbouncer",
        **image_fields(pooler.image),
        # The image's entrypoint is a shell script that runs pgbouncer as its child: SIGTERM would stop at the shell.
        "command": ["/usr/bin/pgbouncer", f"{CONFIG_DIR}/{CONFIG_FILE}"],
        "ports": [{"name": "pgbouncer", "containerPort": POOLER_PORT}],
        "resources": args.sizes.of("pooler"),
        "securityContext": container_security_context(),
        "readinessProbe": {**probe, "periodSeconds": 5, "timeoutSeconds": 2},
        "livenessProbe": {**probe, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
        # Let endpoints drop this pod before PgBouncer stops taking connections (SIGTERM: no new clients, running
        # transactions finish); MLflow's pool_pre_ping replaces the connections it then closes.
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}, *ca[1]],
    }
    k8s.apps.v1.Deployment(
        pooler_name,
        metadata={**metadata, "name": pooler_name},
        spec={
            "replicas": pooler.replicas,
            "selector": {"matchLabels": selector},
            # The connection budget counts one pod over the count during a rollout.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": args.pods.template(labels, annotations={CONFIG_REVISION: revision}, spec={
                "automountServiceAccountToken": False,
                "securityContext": pod_security_context(POOLER_UID),
                "terminationGracePeriodSeconds": 30,
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": selector}}],
                "containers": [container],
                "volumes": [secret_files("config", config.metadata.name), empty_dir("tmp", "16Mi"), *ca[0]],
            }),
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[config, *endpoint.ready]),
    )
    service = cluster_ip_service(pooler_name, metadata, selector, {"pgbouncer": POOLER_PORT}, parent)
    if pooler.replicas > 1:
        one_at_a_time(pooler_name, metadata, selector, parent)
    return PoolerEndpoint(host=pulumi.Output.concat(service.metadata.name, ".", args.namespace, ".svc.cluster.local"),
                          port=POOLER_PORT, selector=selector)
