"""The one place stack configuration is read and validated.

Each area (settings/<area>.py) reads its own keys and returns typed, frozen settings; load_settings
composes them, checks what spans areas, and reports every problem at once, each naming its key
and what is allowed, so `pulumi preview` fails before anything is created. Cluster facts
(kubeconfig, OIDC provider, network) come from explicit config or from the cluster stack's outputs.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from mlflow_platform.artifact_bucket import ArtifactBucketArgs
from mlflow_platform.ingress_sso import IngressSsoArgs
from mlflow_platform.kube.pods import PodSettings
from mlflow_platform.kube.resources import WorkloadSizes
from mlflow_platform.mlflow_postgres import MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.engines import LABELS as ENGINE_LABELS
from mlflow_platform.mlflow_server.jobs import JOB_ROUTES, jobs_service_name
from mlflow_platform.validation import namespace_problem
from settings.artifacts import ArtifactSettings, read_artifacts
from settings.cluster import CLUSTER_STACK_OUTPUTS, ClusterFacts
from settings.database import DatabaseSettings, read_database, refuse_sqlite_misfits
from settings.formats import FORMATS
from settings.front_door import people_issuer, read_front_door
from settings.identity import IdentitySettings, read_identity
from settings.monitoring import MonitoringSettings, read_monitoring
from settings.network import NetworkSettings, read_network
from settings.pods import read_image_mirrors, read_pods, read_sizes
from settings.reader import ConfigError, ConfigReader, aws_tags
from settings.server import ServerSettings, read_server

__all__ = ["CLUSTER_STACK_OUTPUTS", "SECRET_KEYS", "SERVER_SERVICE_ACCOUNT", "ConfigError", "ServerSettings",
           "Settings", "load_settings"]

PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
SERVER_SERVICE_ACCOUNT = "mlflow"
BACKUP_PREFIX = "backups/"
# Keys read with `pulumi config set --secret` only. Pulumi.yaml cannot declare them (see its comment):
# the secrets table in docs/configuration.md comes from here.
SECRET_KEYS = {
    "cloudflareTunnelToken": "Token of the Cloudflare tunnel (frontDoor cloudflare) whose public hostname routes to "
                             "the MLflow Service.",
    "clusterKubeconfig": "Kubeconfig of the target cluster. Unset uses clusterStack's kubeconfig, else your default "
                         "kubeconfig and kubeContext.",
    "externalDatabasePassword": "Password of the mlflow user on your server (databaseMode external). The database and "
                                "user are both named mlflow.",
    "ssoClientSecret": "OIDC client secret of ssoClientId (ssoEnabled with an ingressHost).",
}


@dataclass(frozen=True)
class Settings:
    namespace: str
    kube_context: str | None
    kubeconfig: pulumi.Input[str] | None
    delete_unreachable: bool
    """Forget objects of a cluster that is gone (throwaway stacks only: dataProtection off)."""
    aws_region: str | None
    data_protection: bool
    postgres: MlflowPostgresArgs
    artifacts: ArtifactBucketArgs
    server: ServerSettings
    identity: IdentitySettings | None
    """MLflow's auth app (None: off, everyone who reaches the server is an admin)."""
    ingress: IngressSsoArgs | None
    monitoring: MonitoringSettings | None
    network: NetworkSettings | None
    pods: PodSettings
    sizes: WorkloadSizes
    """Scheduling, pull secrets and metadata every workload's pods get."""

    @property
    def uses_aws(self) -> bool:
        return self.postgres.mode == "rds" or self.artifacts.backend == "s3"


def load_settings(config: pulumi.Config | None = None) -> Settings:
    declared = _declared()
    read = ConfigReader(config or pulumi.Config(), FORMATS,
                        empty_means_unset={key for key, value in declared.items() if value.get("default") == ""})
    namespace = read.string("namespace")
    data_protection = read.boolean("dataProtection")
    storage_class = read.optional("storageClass")
    aws_region = read.optional("awsRegion")
    kube_context = read.optional("kubeContext")
    read.image_mirrors = read_image_mirrors(read)
    pods = read_pods(read)
    sizes = read_sizes(read)
    cluster = ClusterFacts(read)
    kubeconfig = cluster.get("kubeconfig", None)

    database = read_database(read, cluster, aws_region, data_protection)
    artifacts = read_artifacts(read, cluster, aws_region)
    server = read_server(read)
    front_door = read_front_door(read, None if namespace_problem(namespace) else namespace, SERVER_SERVICE_ACCOUNT,
                                 server.tmp_size_limit if server else None, data_protection)
    if front_door and server and server.static_prefix:
        front_door = dataclasses.replace(front_door, path_prefix=server.static_prefix)
    monitoring = read_monitoring(read)
    network = read_network(read, cluster, database_in_cluster=database is None or database.mode in ("in-cluster",
                                                                                                      "sqlite"),
                           load_balancer_in_vpc=bool(front_door and front_door.gateway
                                                     and front_door.gateway.controller == "aws-alb"))
    identity = read_identity(read, cluster, people_issuer(front_door), data_protection)
    # A Cloudflare tunnel's routes are its remote configuration, set at Cloudflare like its public hostname: the job
    # routes are one more rule there (docs/front-doors.md, jobs.tunnel_path_rule), not objects of this program.
    if server and server.job_execution and front_door and not front_door.cloudflare:
        front_door = dataclasses.replace(front_door, jobs_service_name=jobs_service_name(SERVER_SERVICE_ACCOUNT),
                                         job_routes=JOB_ROUTES)

    if database and artifacts and database.backups and artifacts.backend != "minio":
        read.fail("backupsEnabled", "in-cluster backups are written to the MinIO bucket, and artifactBackend is "
                                    f"{artifacts.backend!r}: use databaseMode rds (automated backups) or set "
                                    "backupsEnabled false")
    if artifacts and (artifacts.prefix.startswith(BACKUP_PREFIX) or BACKUP_PREFIX.startswith(artifacts.prefix)):
        read.fail("artifactPrefix", f"{artifacts.prefix!r} overlaps {BACKUP_PREFIX!r}, where the database backups go: "
                                    "MLflow's user would read the dumps, and the backups' expiry rule would delete "
                                    "artifacts; use another prefix, e.g. mlflow/")
    if artifacts and f"{namespace}:{SERVER_SERVICE_ACCOUNT}" in artifacts.also_trusted_service_accounts:
        read.fail("irsaTrustedServiceAccounts", f"'{namespace}:{SERVER_SERVICE_ACCOUNT}' is the MLflow server's own "
                                                "ServiceAccount, which the role trusts already: name your jobs' ones")
    if server and network and server.service_type != "ClusterIP":
        read.fail("serverServiceType", f"a {server.service_type} Service's traffic comes from outside every namespace "
                                       "the NetworkPolicies admit, so they would drop it: keep ClusterIP behind a front "
                                       "door (ingressHost), or set networkPolicies false")
    gateway = front_door.gateway if front_door else None
    if network and gateway and gateway.declared and gateway.controller == "nginx-gateway-fabric" and \
            network.ingress_namespace != (gateway.namespace or namespace):
        read.fail("ingressControllerNamespace", f"is {network.ingress_namespace!r}, but NGINX Gateway Fabric runs the "
                                                "data plane of the stack's Gateway in the Gateway's namespace "
                                                f"({gateway.namespace or namespace!r}, gatewayNamespace): name that one, "
                                                "or the NetworkPolicies drop its traffic")
    if network and network.ingress_namespace == namespace:
        read.fail("ingressControllerNamespace", f"{namespace!r} is the platform's own namespace: the server's "
                                                "NetworkPolicy would admit every pod in it; name the namespace your "
                                                "Gateway's data plane or ingress controller runs in (e.g. nginx-gateway)")
    # Checked whenever both areas read cleanly, so this problem is reported with any others.
    # sqlite opens a file: there is no max_connections to fit under.
    if database and server and database.mode != "sqlite":
        in_cluster = database.mode == "in-cluster"
        budget = server.connection_budget(database.mode, exporter=in_cluster and monitoring is not None,
                                          backup=database.backups, engine=database.engine, pooler=database.pooler)
        if not budget.fits(database.max_connections):
            read.fail(
                "postgresMaxConnections",
                f"the MLflow server may open more connections than {ENGINE_LABELS[database.engine]} allows: "
                f"{budget.explain(database.max_connections)}. Raise postgresMaxConnections, or lower "
                + ("databasePoolerReplicas or databasePoolerPoolSize." if database.pooler else
                   "serverMaxReplicas/serverReplicas, serverWorkers, dbPoolSize or dbMaxOverflow"
                   + (", or set databasePooler true (PgBouncer: the database then sees its pool only)."
                      if database.engine == "postgresql" else ".")),
            )
        if problem := budget.pooler_problem():
            read.fail("databasePoolerMaxClientConnections", f"{problem}: raise it, or lower serverMaxReplicas/"
                                                            "serverReplicas, serverWorkers, dbPoolSize or dbMaxOverflow")
    if database and database.engine == "mysql" and read.boolean("authEnabled"):
        read.fail("authEnabled", "MLflow's auth app cannot create its tables on MySQL or MariaDB: its first migration "
                                 "names two foreign keys fk_user_id, which MySQL refuses (errno 121; mlflow/mlflow#9642, "
                                 "reproduced by tests/runtime/test_mysql.py): use externalDatabaseEngine postgresql, or "
                                 "set authEnabled false")
    if database and database.external and database.external.uri_secret and read.boolean("authEnabled"):
        read.fail("authEnabled", "MLflow's auth app needs a database URI of its own (mlflow_auth on the same server), "
                                 "which the program builds from the password: with externalDatabaseUriSecret it has "
                                 "none; use externalDatabasePassword, or set authEnabled false")
    if artifacts and artifacts.endpoint and network and (
            unreachable := artifacts.endpoint.unreachable_with_policies(network.allow_https_egress)):
        read.fail("artifactEndpointCidr", unreachable)
    if database and database.mode == "sqlite":
        refuse_sqlite_misfits(read, server, data_protection, read.boolean("authEnabled"))
    _refuse_insecure_choices(read, data_protection, database, artifacts, front_door, network, read.boolean("authEnabled"))
    read.check_unread_keys()
    read.refuse_undeclared_keys(set(declared) | set(SECRET_KEYS))
    read.raise_if_problems()
    assert database and artifacts and server and pods  # else a problem was recorded and raised
    return Settings(
        namespace=namespace,
        kube_context=kube_context,
        kubeconfig=kubeconfig,
        delete_unreachable=not data_protection,
        aws_region=aws_region,
        data_protection=data_protection,
        postgres=dataclasses.replace(_postgres_args(database, namespace, data_protection, storage_class,
                                                    metrics=monitoring is not None),
                                     backup_image=server.image, pods=pods, sizes=sizes),
        artifacts=dataclasses.replace(_artifact_args(artifacts, database, namespace, data_protection, storage_class,
                                                     aws_region), pods=pods, sizes=sizes),
        pods=pods,
        sizes=sizes,
        server=server.behind(front_door),
        identity=identity,
        ingress=dataclasses.replace(ingress, pods=pods, sizes=sizes) if (ingress := _with_program_issuers(front_door, identity))
        else None,
        monitoring=monitoring,
        network=network,
    )


INSECURE_OPT_INS = ("allowPlaintextIngress", "allowDisabledNetworkPolicies", "allowInClusterStoresInProd",
                    "allowUnverifiedDatabaseTls", "allowPlaintextArtifactEndpoint", "allowEveryUserAsAdmin",
                    "allowArtifactReadsAroundPermissions")


def _refuse_insecure_choices(read: ConfigReader, data_protection: bool, database: DatabaseSettings | None,
                             artifacts: ArtifactSettings | None, front_door: IngressSsoArgs | None,
                             network: NetworkSettings | None, auth_enabled: bool) -> None:
    """A stack whose data is protected (prod) takes none of these unless the key named after the risk accepts it."""
    accepted = {key: read.boolean(key) for key in INSECURE_OPT_INS}
    if not data_protection:
        return

    def refuse(key: str, opt_in: str, risk: str) -> None:
        if not accepted[opt_in]:
            read.fail(key, f"{risk}; set {read.key(opt_in)} to true to accept that")

    if front_door and not front_door.tls:
        alb = bool(front_door.gateway and front_door.gateway.alb)
        refuse("albHttps" if alb else "ingressTlsClusterIssuer", "allowPlaintextIngress",
               f"the front door for {front_door.host} has no TLS ("
               + ("albHttps is false" if alb else "set ingressTlsClusterIssuer or ingressTlsSecret")
               + "): sign-ins, session cookies and tokens would cross the network in clear")
    if not auth_enabled:
        who = ("everyone Cloudflare Access lets in, and anything that reaches the server without passing Access (no "
               "one checks Cf-Access-Jwt-Assertion)" if front_door and front_door.cloudflare else
               "everyone who signs in, and every program and pod that reaches the server")
        refuse("authEnabled", "allowEveryUserAsAdmin",
               f"without MLflow's auth app {who} is MLflow's admin: may read, change and delete every experiment and "
               "model")
    if auth_enabled and artifacts and artifacts.also_trusted_service_accounts:
        refuse("irsaTrustedServiceAccounts", "allowArtifactReadsAroundPermissions",
               "the artifact reader role reads every artifact under the prefix straight from S3, around MLflow's "
               "permissions and workspaces, which the auth app enforces only on requests to the server")
    if network is None:
        refuse("networkPolicies", "allowDisabledNetworkPolicies",
               "without NetworkPolicies every pod of the cluster can reach the MLflow server and the stores")
    if database and database.mode == "in-cluster":
        refuse("databaseMode", "allowInClusterStoresInProd",
               "the in-cluster PostgreSQL is one pod on one volume, with no replica and no point-in-time recovery: "
               "use rds or external")
    if artifacts and artifacts.backend == "minio":
        refuse("artifactBackend", "allowInClusterStoresInProd",
               "MinIO here is one pod on one volume: use s3")
    if artifacts and artifacts.endpoint and artifacts.endpoint.plaintext:
        refuse("artifactEndpointUrl", "allowPlaintextArtifactEndpoint",
               f"{artifacts.endpoint.url} is plain http: every artifact, and requests signed with MLflow's keys that a "
               "machine in the path could replay, cross the network in clear; use the store's https endpoint")
    ssl_mode = database.ssl_mode if database else None
    if ssl_mode in ("disable", "prefer"):
        # No opt-in: allowUnverifiedDatabaseTls accepts TLS without verification, not its absence.
        read.fail("externalDatabaseSslMode", f"sslmode={ssl_mode} may connect without TLS ("
                  + ("never tries it" if ssl_mode == "disable" else "falls back to plain text when TLS fails")
                  + "): use require (with allowUnverifiedDatabaseTls), verify-ca or verify-full, or dataProtection "
                  "false for a database you do not protect")
    elif ssl_mode and ssl_mode not in ("verify-ca", "verify-full"):
        refuse("externalDatabaseSslMode" if database and database.mode == "external" else "databaseMode",
               "allowUnverifiedDatabaseTls",
               f"the database connection uses sslmode={ssl_mode}, which does not verify the server's certificate: a "
               "machine in the path can read and change what MLflow stores")


def _with_program_issuers(front_door: IngressSsoArgs | None, identity: IdentitySettings | None) -> IngressSsoArgs | None:
    """Programs' tokens must pass oauth2-proxy as well as MLflow: the proxy trusts the same issuers."""
    if not (front_door and front_door.sso and identity and identity.program_issuers):
        return front_door
    return dataclasses.replace(front_door, sso=dataclasses.replace(front_door.sso, program_issuers=identity.program_issuers))


def _postgres_args(database: DatabaseSettings, namespace: str, data_protection: bool, storage_class: str | None,
                   metrics: bool) -> MlflowPostgresArgs:
    return MlflowPostgresArgs(
        namespace=namespace,
        mode=database.mode,
        max_connections=database.max_connections,
        data_protection=data_protection,
        metrics_exporter=metrics,
        backup_schedule=database.backup_schedule,
        image=database.image,
        exporter_image=database.exporter_image,
        storage_size=database.storage_size,
        storage_class=storage_class,
        resources=database.resources,
        rds=database.rds,
        external=database.external,
        ca_secret=database.ca_secret,
        pooler=database.pooler,
    )


def _artifact_args(artifacts: ArtifactSettings, database: DatabaseSettings, namespace: str, data_protection: bool,
                   storage_class: str | None, aws_region: str | None) -> ArtifactBucketArgs:
    return ArtifactBucketArgs(
        namespace=namespace,
        backend=artifacts.backend,
        bucket_name=artifacts.bucket,
        prefix=artifacts.prefix,
        data_protection=data_protection,
        service_account=SERVER_SERVICE_ACCOUNT,
        storage_class=storage_class,
        irsa=artifacts.irsa,
        also_trusted_service_accounts=artifacts.also_trusted_service_accounts,
        backup_prefix=BACKUP_PREFIX if database.backups else None,
        backup_retention_days=database.backup_retention_days,
        region=aws_region,
        tags=aws_tags(),
        minio_image=artifacts.minio_image,
        minio_client_image=artifacts.minio_client_image,
        storage_size=artifacts.storage_size,
        kms_key_arn=artifacts.kms_key_arn,
        noncurrent_version_days=artifacts.noncurrent_version_days,
        endpoint_url=endpoint.url if (endpoint := artifacts.endpoint) else None,
        credentials_secret=endpoint.credentials_secret if endpoint else None,
        signing_region=endpoint.signing_region if endpoint else ArtifactBucketArgs.signing_region,
        addressing_style=endpoint.addressing_style if endpoint else ArtifactBucketArgs.addressing_style,
        endpoint_cidr=endpoint.cidr if endpoint else None,
    )


def _declared() -> dict[str, dict[str, Any]]:
    """The project's keys as Pulumi.yaml declares them (the CLI itself lets undeclared ones through)."""
    project = yaml.safe_load(PROJECT_FILE.read_text())
    return {key: declared for key, declared in project.get("config", {}).items() if ":" not in key}
