"""The database area: where MLflow's database lives (in-cluster, RDS, external PostgreSQL or MySQL, or a throwaway
SQLite file), its size and its backups."""

from dataclasses import dataclass

from mlflow_platform.kube.resources import ResourceSpec
from mlflow_platform.mlflow_postgres import (
    ConnectionPooler,
    DatabaseEngine,
    DatabaseMode,
    DatabaseNetwork,
    ExternalDatabase,
    RdsOptions,
)
from mlflow_platform.versions import PGBOUNCER_IMAGE, POSTGRES_EXPORTER_IMAGE, POSTGRES_IMAGE
from settings.cluster import ClusterFacts
from settings.reader import ConfigReader, aws_tags, resources
from settings.server import ServerSettings

RDS_PROTECTION_KEYS = {
    "deletion_protection": "rdsDeletionProtection",
    "storage_encrypted": "rdsStorageEncrypted",
    "backup_retention_days": "rdsBackupRetentionDays",
}
# libpq's modes but "allow"; each has a MySQL equivalent in PyMySQL's terms (engines.py MYSQL_TLS).
SSL_MODES = ("require", "verify-ca", "verify-full", "prefer", "disable")


@dataclass(frozen=True)
class DatabaseSettings:
    mode: DatabaseMode
    max_connections: int
    image: str
    exporter_image: str
    storage_size: str
    resources: ResourceSpec
    rds: RdsOptions | None
    external: ExternalDatabase | None
    backups: bool
    """A pg_dump CronJob (in-cluster only: RDS keeps automated backups)."""
    backup_schedule: str
    backup_retention_days: int
    ca_secret: str | None
    """databaseCaSecret: the Secret with the database server's CA bundle (RDS, external)."""
    pooler: ConnectionPooler | None = None
    """databasePooler: PgBouncer between the server pods and PostgreSQL."""

    @property
    def engine(self) -> DatabaseEngine:
        return self.external.engine if self.external else "postgresql"

    @property
    def ssl_mode(self) -> str | None:
        """How the server connects; None in the cluster (no TLS, NetworkPolicies guard it)."""
        if self.mode == "rds":
            return "verify-full" if self.ca_secret else "require"
        return self.external.ssl_mode if self.external else None


def read_database(read: ConfigReader, cluster: ClusterFacts, aws_region: str | None,
                  data_protection: bool) -> DatabaseSettings | None:
    """None when a key of this area is wrong (the problems are recorded)."""
    mark = len(read.problems)
    mode = read.string("databaseMode")
    max_connections = read.integer("postgresMaxConnections")
    image = read.image("postgresImage", POSTGRES_IMAGE)
    exporter_image = read.image("postgresExporterImage", POSTGRES_EXPORTER_IMAGE)
    storage_size = read.string("postgresStorageSize")
    sqlite_size = read.string("sqliteStorageSize")
    spec = resources(read, "postgres")
    rds = _rds(read, cluster, aws_region, data_protection) if mode == "rds" else None
    engine = read.string("externalDatabaseEngine")
    if engine == "mysql" and mode != "external":
        runs = "SQLite" if mode == "sqlite" else "PostgreSQL"
        read.fail("externalDatabaseEngine", f"mysql is for databaseMode external; {mode} runs {runs} (set "
                                            f"{read.key('databaseMode')} external, or this key back to postgresql)")
    external = _external(read, engine) if mode == "external" else None
    ca_secret = read.optional("databaseCaSecret")
    if ca_secret and mode == "in-cluster":
        read.fail("databaseCaSecret", "is for a database outside the cluster (rds, external): the in-cluster one is "
                                      "reached without TLS, inside the NetworkPolicies")
    if ca_secret and mode == "sqlite":
        read.fail("databaseCaSecret", "is for a database outside the cluster (rds, external): sqlite is a file on "
                                      "the server's volume, with no connection to verify")
    if external and external.ssl_mode.startswith("verify-") and not ca_secret:
        without = ("PyMySQL, given no CA file, cannot be told to verify" if external.engine == "mysql"
                   else "libpq looks for ~/.postgresql/root.crt, which the image does not have")
        read.fail("externalDatabaseSslMode", f"{external.ssl_mode} needs the server's CA: create a Secret with it as "
                                             f"ca.crt and name it in databaseCaSecret (without it {without})")
    if external and ca_secret and not external.ssl_mode.startswith("verify-"):
        read.fail("databaseCaSecret", f"externalDatabaseSslMode {external.ssl_mode} does not verify the server: use "
                                      "verify-full (or verify-ca) with a CA")
    backups = read.boolean("backupsEnabled")
    backup_schedule = read.string("backupSchedule")
    backup_retention_days = read.integer("backupRetentionDays")
    pooler = _pooler(read, mode, engine, external)
    if read.problems_since(mark) or spec is None:
        return None
    return DatabaseSettings(
        mode=mode,  # type: ignore[arg-type]  # checked against DATABASE_MODES above
        max_connections=max_connections, image=image, exporter_image=exporter_image,
        storage_size=sqlite_size if mode == "sqlite" else storage_size,
        resources=spec, rds=rds,
        external=external, backups=backups and mode == "in-cluster", backup_schedule=backup_schedule,
        backup_retention_days=backup_retention_days, ca_secret=ca_secret, pooler=pooler,
    )


def _pooler(read: ConfigReader, mode: str, engine: str, external: ExternalDatabase | None) -> ConnectionPooler | None:
    """databasePooler's PgBouncer, for every PostgreSQL mode (in-cluster, rds, external); its keys are read either way."""
    enabled = read.boolean("databasePooler")
    pooler = ConnectionPooler(replicas=read.integer("databasePoolerReplicas"),
                              pool_size=read.integer("databasePoolerPoolSize"),
                              max_client_connections=read.integer("databasePoolerMaxClientConnections"),
                              image=read.image("databasePoolerImage", PGBOUNCER_IMAGE))
    if not enabled:
        return None
    if mode == "sqlite":
        read.fail("databasePooler", "is for PostgreSQL: databaseMode sqlite is a file, with no connections to pool; set "
                                    "false, or use in-cluster, rds or external")
    elif engine == "mysql":
        read.fail("databasePooler", "is PgBouncer, which speaks PostgreSQL's protocol only: not MySQL or MariaDB "
                                    "(externalDatabaseEngine mysql); set false, and size postgresMaxConnections (your "
                                    "server's max_connections) for the server's pools, or put ProxySQL in front yourself")
    elif external and external.uri_secret:
        read.fail("databasePooler", "needs the database password for PgBouncer's userlist, which "
                                    "externalDatabaseUriSecret keeps from the program: use externalDatabasePassword, "
                                    "or set false")
    return pooler


def refuse_sqlite_misfits(read: ConfigReader, server: ServerSettings | None, data_protection: bool,
                          auth_enabled: bool) -> None:
    """databaseMode sqlite: one file on a ReadWriteOnce volume, for throwaway stacks on the smallest clusters. What
    it cannot carry is refused, each on its own key (the server's keys once they read cleanly)."""
    if data_protection:
        read.fail("dataProtection", "databaseMode sqlite is for throwaway stacks only: one file on one volume, no "
                                    "replica, no backup; set dataProtection false, or use in-cluster, rds or external")
    if auth_enabled:
        read.fail("authEnabled", "MLflow's auth app is for shared stacks, and databaseMode sqlite is a throwaway "
                                 "single-pod one: its users and permissions would be a second SQLite file this stack "
                                 "neither builds nor tests; use databaseMode in-cluster, or set authEnabled false")
    if server is None:
        return
    if server.replicas > 1:
        read.fail("serverReplicas", f"{server.replicas} pods cannot share databaseMode sqlite's volume "
                                    "(ReadWriteOnce: one node mounts it) nor its one writer: set 1, or use in-cluster")
    if server.autoscaling:
        read.fail("serverAutoscaling", "adds pods, which cannot mount databaseMode sqlite's ReadWriteOnce volume: "
                                       "set false, or use in-cluster")
    if server.gc_schedule:
        read.fail("gcSchedule", "the gc job cannot mount databaseMode sqlite's volume, which the server holds "
                                "(ReadWriteOnce): purge with `mlflow gc` in the server's pod, or use in-cluster")
    if server.workers > 1:
        read.fail("serverWorkers", f"{server.workers} worker processes would each open the SQLite file, whose one "
                                   "writer they then share through the volume's file locks, which some storage "
                                   "classes (NFS) do not honour (sqlite.org/howtocorrupt.html); MLflow keeps SQLite's "
                                   "rollback journal and waits 20 s for the lock (busy_timeout, "
                                   "mlflow/store/db/utils.py), then fails with 'database is locked'. One process "
                                   "keeps its connections' locking inside SQLite: set 1 with databaseMode sqlite")
    if server.job_execution:
        read.fail("serverJobExecution", "the jobs pod is a second pod, which cannot mount databaseMode sqlite's "
                                        "ReadWriteOnce volume: set false, or use in-cluster")


def _rds(read: ConfigReader, cluster: ClusterFacts, aws_region: str | None, data_protection: bool) -> RdsOptions:
    if not aws_region:
        read.fail("awsRegion", "is required for databaseMode rds (e.g. us-east-1)")
    rds = RdsOptions(
        network=DatabaseNetwork(
            vpc_id=cluster.get("vpcId", "databaseMode rds"),
            subnet_ids=cluster.get("privateSubnetIds", "databaseMode rds"),
            client_security_group_id=cluster.get("nodeSecurityGroupId", "databaseMode rds"),
        ),
        engine_version=read.string("rdsEngineVersion"),
        instance_class=read.string("rdsInstanceClass"),
        allocated_storage_gb=read.integer("rdsAllocatedStorageGb"),
        max_allocated_storage_gb=read.integer("rdsMaxAllocatedStorageGb"),
        multi_az=read.boolean("rdsMultiAz"),
        backup_retention_days=read.integer("rdsBackupRetentionDays"),
        deletion_protection=read.boolean("rdsDeletionProtection"),
        storage_encrypted=read.boolean("rdsStorageEncrypted"),
        kms_key_arn=read.optional("rdsKmsKeyArn"),
        tags=aws_tags(),
    )
    if rds.max_allocated_storage_gb < rds.allocated_storage_gb:
        read.fail("rdsMaxAllocatedStorageGb", f"{rds.max_allocated_storage_gb} is below rdsAllocatedStorageGb")
    if data_protection:
        for field_name, message in rds.protection_problems().items():
            read.fail(RDS_PROTECTION_KEYS[field_name], f"{message} (or set {read.key('dataProtection')} "
                                                       "to false, for throwaway stacks only)")
    return rds


def _external(read: ConfigReader, engine: str) -> ExternalDatabase:
    host = read.optional("externalDatabaseHost")
    password = read.secret("externalDatabasePassword")
    uri_secret = read.optional("externalDatabaseUriSecret")
    if not host:
        read.fail("externalDatabaseHost", "is required for databaseMode external")
    if password is None and not uri_secret:
        read.fail("externalDatabasePassword", "is required for databaseMode external (set it with --secret), unless "
                                              "externalDatabaseUriSecret names a Secret with the whole URI")
    if password is not None and uri_secret:
        read.fail("externalDatabaseUriSecret", "and externalDatabasePassword are two ways to give the password: "
                                               "keep one")
    creates_roles = read.boolean("externalDatabaseCreatesRoles")
    if creates_roles and (engine != "postgresql" or uri_secret):
        read.fail("externalDatabaseCreatesRoles", "is for PostgreSQL with externalDatabasePassword: the migration Job "
                                                  "creates the roles as the mlflow user, whose password it then holds "
                                                  "(not with mysql, nor with externalDatabaseUriSecret); set false")
    ssl_mode = read.string("externalDatabaseSslMode")
    # 0, the declared default: the engine's standard port.
    port = read.integer("externalDatabasePort") or None
    return ExternalDatabase(host=host or "", password=password or "", port=port, ssl_mode=ssl_mode, uri_secret=uri_secret,
                            engine=engine, creates_roles=creates_roles)  # type: ignore[arg-type]  # checked against DATABASE_ENGINES above
