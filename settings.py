"""The one place stack configuration is read and validated.

Every problem is collected and reported at once, each naming its key and what is allowed, so
`pulumi preview` fails before anything is created. Cluster facts (kubeconfig, OIDC provider,
network) come from explicit config or, when `clusterStack` is set, from that stack's outputs.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.monitoring.alert_rules import AlertThresholds
from components.artifact_bucket import ARTIFACT_BACKENDS, ArtifactBucketArgs, IrsaTrust
from components.mlflow_server.connection_budget import (
    RDS_RESERVED_CONNECTIONS,
    SUPERUSER_RESERVED_CONNECTIONS,
    ConnectionBudget,
    pool_problem,
)
from components.ingress_sso import IngressSsoArgs, OidcSso
from components.mlflow_postgres import DATABASE_MODES, ExternalDatabase, MlflowPostgresArgs
from components.mlflow_postgres import DatabaseNetwork, RdsOptions
from components.kube.resources import ResourceSpec
from components.validation import bucket_name_problem, dns_label_problem, parse_quantity
from components.versions import MINIO_CLIENT_IMAGE, MINIO_IMAGE, MLFLOW_IMAGE, OAUTH2_PROXY_IMAGE, POSTGRES_IMAGE
from config_reader import ConfigError, ConfigReader, host_problem

__all__ = ["CLUSTER_STACK_OUTPUTS", "ConfigError", "ServerSettings", "Settings", "load_settings"]

PROJECT_FILE = Path(__file__).resolve().parent / "Pulumi.yaml"
SERVER_SERVICE_ACCOUNT = "mlflow"
BACKUP_PREFIX = "backups/"
# Output names read from the cluster stack, and the config key that can give each one directly.
CLUSTER_STACK_OUTPUTS = {
    "kubeconfig": "clusterKubeconfig",
    "oidcProviderArn": "oidcProviderArn",
    "oidcIssuerUrl": "oidcIssuerUrl",
    "vpcId": "vpcId",
    "privateSubnetIds": "privateSubnetIds",
    "nodeSecurityGroupId": "nodeSecurityGroupId",
}
# Keys read with `pulumi config set --secret` only. Pulumi.yaml cannot declare them (see its comment):
# the README's secrets table comes from here.
SECRET_KEYS = {
    "clusterKubeconfig": "Kubeconfig of the target cluster. Unset uses clusterStack's kubeconfig, else your default "
                         "kubeconfig and kubeContext.",
    "externalDatabasePassword": "Password of the mlflow user on your server (databaseMode external). The database and "
                                "user are both named mlflow.",
    "ssoClientSecret": "OIDC client secret of ssoClientId (ssoEnabled with an ingressHost).",
}
RDS_PROTECTION_KEYS = {
    "deletion_protection": "rdsDeletionProtection",
    "storage_encrypted": "rdsStorageEncrypted",
    "backup_retention_days": "rdsBackupRetentionDays",
}


@dataclass(frozen=True)
class ServerSettings:
    """The MLflow server's configuration; the stack adds the database and artifact wiring."""

    image: str
    replicas: int
    workers: int
    job_execution: bool
    autoscaling: bool
    max_replicas: int
    target_cpu_utilization: int
    resources: ResourceSpec
    tmp_size_limit: str
    metrics: bool
    extra_allowed_hosts: tuple[str, ...]
    pool_size: int
    max_overflow: int
    pool_recycle_seconds: int


@dataclass(frozen=True)
class MonitoringSettings:
    release_labels: dict[str, str]
    thresholds: AlertThresholds


@dataclass(frozen=True)
class NetworkSettings:
    ingress_namespace: str
    monitoring_namespace: str
    client_namespaces: tuple[str, ...]


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
    ingress: IngressSsoArgs | None
    monitoring: MonitoringSettings | None
    network: NetworkSettings | None

    @property
    def uses_aws(self) -> bool:
        return self.postgres.mode == "rds" or self.artifacts.backend == "s3"


class _ClusterFacts:
    """Each fact from explicit config if given, else from the cluster stack's outputs."""

    def __init__(self, read: ConfigReader) -> None:
        self._read = read
        self.stack = read.optional("clusterStack")
        self._reference = pulumi.StackReference(self.stack) if self.stack else None

    def get(self, output: str, needed_for: str | None) -> Any:
        key = CLUSTER_STACK_OUTPUTS[output]
        if output == "kubeconfig":
            explicit: Any = self._read.secret(key)
        elif output == "privateSubnetIds":
            explicit = self._read.string_list(key) or None
        else:
            explicit = self._read.optional(key)
        if explicit is not None:
            return explicit
        if self._reference is not None:
            value = self._reference.require_output(output)
            return value.apply(lambda v: v if isinstance(v, (str, list)) else json.dumps(v)) if output == "kubeconfig" else value
        if needed_for:
            self._read.fail(key, f"is required for {needed_for}: set it, or set {self._read.key('clusterStack')} "
                                 f"to a stack that exports {output!r}")
        return None


def _resources(read: ConfigReader, prefix: str) -> ResourceSpec | None:
    values = {f"{part}_{kind}": read.quantity(f"{prefix}{part.title()}{kind.title()}")
              for part in ("cpu", "memory") for kind in ("request", "limit")}
    if any(problem.startswith(read.key(prefix)) for problem in read.problems):
        return None
    return read.build(f"{prefix}CpuRequest", ResourceSpec, **values)


def _tags() -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "mlflow-platform", "pulumi-project": pulumi.get_project(),
            "pulumi-stack": pulumi.get_stack()}


def load_settings(config: pulumi.Config | None = None) -> Settings:
    read = ConfigReader(config or pulumi.Config())
    namespace = read.string("namespace", check=dns_label_problem)
    data_protection = read.boolean("dataProtection")
    storage_class = read.optional("storageClass", check=dns_label_problem)
    aws_region = read.optional("awsRegion")
    cluster = _ClusterFacts(read)

    # --- database -----------------------------------------------------------------
    database_mode = read.string("databaseMode", allowed=DATABASE_MODES)
    max_connections = read.integer("postgresMaxConnections", minimum=20, maximum=10000)
    postgres_image = read.image("postgresImage", POSTGRES_IMAGE)
    postgres_storage = read.quantity("postgresStorageSize")
    postgres_resources = _resources(read, "postgres")
    rds: RdsOptions | None = None
    external: ExternalDatabase | None = None
    if database_mode == "rds":
        if not aws_region:
            read.fail("awsRegion", "is required for databaseMode rds (e.g. us-east-1)")
        rds = RdsOptions(
            network=DatabaseNetwork(
                vpc_id=cluster.get("vpcId", "databaseMode rds"),
                subnet_ids=cluster.get("privateSubnetIds", "databaseMode rds"),
                client_security_group_id=cluster.get("nodeSecurityGroupId", "databaseMode rds"),
            ),
            engine_version=read.string("rdsEngineVersion", check=_engine_version_problem),
            instance_class=read.string("rdsInstanceClass", check=_instance_class_problem),
            allocated_storage_gb=read.integer("rdsAllocatedStorageGb", minimum=20, maximum=65536),
            max_allocated_storage_gb=read.integer("rdsMaxAllocatedStorageGb", minimum=20, maximum=65536),
            multi_az=read.boolean("rdsMultiAz"),
            backup_retention_days=read.integer("rdsBackupRetentionDays", minimum=0, maximum=35),
            deletion_protection=read.boolean("rdsDeletionProtection"),
            storage_encrypted=read.boolean("rdsStorageEncrypted"),
            kms_key_arn=read.optional("rdsKmsKeyArn", check=_arn_problem),
            tags=_tags(),
        )
        if rds.max_allocated_storage_gb < rds.allocated_storage_gb:
            read.fail("rdsMaxAllocatedStorageGb", f"{rds.max_allocated_storage_gb} is below rdsAllocatedStorageGb")
        if data_protection:
            for field_name, message in rds.protection_problems().items():
                read.fail(RDS_PROTECTION_KEYS[field_name], f"{message} (or set {read.key('dataProtection')} "
                                                           "to false, for throwaway stacks only)")
    elif database_mode == "external":
        host = read.optional("externalDatabaseHost", check=host_problem)
        password = read.secret("externalDatabasePassword")
        if not host:
            read.fail("externalDatabaseHost", "is required for databaseMode external")
        if password is None:
            read.fail("externalDatabasePassword", "is required for databaseMode external (set it with --secret)")
        ssl_mode = read.string("externalDatabaseSslMode", allowed=("require", "verify-ca", "verify-full", "prefer", "disable"))
        external = ExternalDatabase(host=host or "", password=password or "",
                                    port=read.integer("externalDatabasePort", minimum=1, maximum=65535), ssl_mode=ssl_mode)

    # --- artifacts ----------------------------------------------------------------
    backend = read.string("artifactBackend", allowed=ARTIFACT_BACKENDS)
    bucket = read.string("artifactBucket", check=bucket_name_problem)
    prefix = read.string("artifactPrefix", check=_prefix_problem)
    irsa: IrsaTrust | None = None
    also_trusted: tuple[str, ...] = ()
    if backend == "s3":
        if not aws_region:
            read.fail("awsRegion", "is required for artifactBackend s3 (e.g. us-east-1)")
        if bucket == "mlflow-artifacts":
            read.fail("artifactBucket", "S3 bucket names are global and 'mlflow-artifacts' is taken: "
                                        "choose one for your organisation, e.g. acme-mlflow-artifacts-prod")
        also_trusted = read.string_list("irsaTrustedServiceAccounts", check=_service_account_problem)
        irsa = IrsaTrust(oidc_provider_arn=cluster.get("oidcProviderArn", "artifactBackend s3 (IRSA)"),
                         issuer_url=cluster.get("oidcIssuerUrl", "artifactBackend s3 (IRSA)"))
    kubeconfig = cluster.get("kubeconfig", None)

    # --- server -------------------------------------------------------------------
    replicas = read.integer("serverReplicas", minimum=1, maximum=50)
    autoscaling = read.boolean("serverAutoscaling")
    max_replicas = read.integer("serverMaxReplicas", minimum=1, maximum=100)
    if autoscaling and max_replicas < replicas:
        read.fail("serverMaxReplicas", f"{max_replicas} is below serverReplicas ({replicas})")
    server_resources = _resources(read, "server")
    workers = read.integer("serverWorkers", minimum=1, maximum=32)
    job_execution = read.boolean("serverJobExecution")
    pool_size = read.integer("dbPoolSize", minimum=1, maximum=100)
    # MLflow reads 0 as "unset" and SQLAlchemy then allows 10 overflow connections.
    max_overflow = read.integer("dbMaxOverflow", minimum=1, maximum=100)
    if not read.problems and (problem := pool_problem(pool_size, max_overflow)):
        read.fail("dbMaxOverflow", f"dbPoolSize + dbMaxOverflow is too small: {problem}")
    server_values = {
        "image": read.image("mlflowImage", MLFLOW_IMAGE),
        "target_cpu_utilization": read.integer("serverTargetCpuUtilization", minimum=10, maximum=100),
        "tmp_size_limit": read.quantity("serverTmpSize"),
        "metrics": read.boolean("serverMetrics"),
        "extra_allowed_hosts": read.string_list("serverExtraAllowedHosts", check=host_problem),
        "pool_recycle_seconds": read.integer("dbPoolRecycleSeconds", minimum=30, maximum=86400),
    }
    minio_values = {
        "minio_image": read.image("minioImage", MINIO_IMAGE),
        "minio_client_image": read.image("minioClientImage", MINIO_CLIENT_IMAGE),
        "storage_size": read.quantity("minioStorageSize"),
        "kms_key_arn": read.optional("artifactKmsKeyArn", check=_arn_problem),
        "noncurrent_version_days": read.integer("artifactNoncurrentVersionDays", minimum=1, maximum=3650),
    }
    kube_context = read.optional("kubeContext")
    backups = read.boolean("backupsEnabled")
    backup_schedule = read.string("backupSchedule", check=_cron_problem)
    backup_retention = read.integer("backupRetentionDays", minimum=1, maximum=3650)
    backups_in_cluster = backups and database_mode == "in-cluster"
    if backups_in_cluster and backend != "minio":
        read.fail("backupsEnabled", "in-cluster backups are written to the MinIO bucket, and artifactBackend is "
                                    f"{backend!r}: use databaseMode rds (automated backups) or set backupsEnabled false")
    ingress = _ingress(read, namespace, server_values["tmp_size_limit"])  # type: ignore[arg-type]
    monitoring = _monitoring(read)
    network_policies = NetworkSettings(
        ingress_namespace=read.string("ingressControllerNamespace", check=dns_label_problem),
        monitoring_namespace=read.string("monitoringNamespace", check=dns_label_problem),
        client_namespaces=read.string_list("networkClientNamespaces", check=dns_label_problem),
    ) if read.boolean("networkPolicies") else None

    budget = ConnectionBudget(
        max_replicas=max_replicas if autoscaling else replicas,
        workers=workers,
        pool_size=pool_size,
        max_overflow=max_overflow,
        job_execution=job_execution,
        reserved=RDS_RESERVED_CONNECTIONS if database_mode == "rds" else SUPERUSER_RESERVED_CONNECTIONS,
    )
    if not read.problems and not budget.fits(max_connections):
        read.fail(
            "postgresMaxConnections",
            f"the MLflow server may open more connections than PostgreSQL allows: {budget.explain(max_connections)}. "
            "Raise postgresMaxConnections, or lower serverMaxReplicas/serverReplicas, serverWorkers, "
            "dbPoolSize or dbMaxOverflow.",
        )

    read.refuse_undeclared_keys(set(_declared_keys()) | set(SECRET_KEYS))
    read.raise_if_problems()
    assert postgres_resources is not None and server_resources is not None  # else a problem was recorded
    return Settings(
        namespace=namespace,
        kube_context=kube_context,
        kubeconfig=kubeconfig,
        delete_unreachable=not data_protection,
        aws_region=aws_region,
        data_protection=data_protection,
        postgres=MlflowPostgresArgs(
            namespace=namespace,
            mode=database_mode,  # type: ignore[arg-type]  # checked against DATABASE_MODES above
            max_connections=max_connections,
            data_protection=data_protection,
            metrics_exporter=monitoring is not None,
            backup_schedule=backup_schedule,
            image=postgres_image,
            storage_size=postgres_storage,
            storage_class=storage_class,
            resources=postgres_resources,
            rds=rds,
            external=external,
        ),
        artifacts=ArtifactBucketArgs(
            namespace=namespace,
            backend=backend,  # type: ignore[arg-type]  # checked against ARTIFACT_BACKENDS above
            bucket_name=bucket,
            prefix=prefix,
            data_protection=data_protection,
            service_account=SERVER_SERVICE_ACCOUNT,
            storage_class=storage_class,
            irsa=irsa,
            also_trusted_service_accounts=also_trusted,
            backup_prefix=BACKUP_PREFIX if backups_in_cluster else None,
            backup_retention_days=backup_retention,
            region=aws_region,
            tags=_tags(),
            **minio_values,  # type: ignore[arg-type]
        ),
        server=ServerSettings(
            replicas=replicas, workers=workers, job_execution=job_execution, autoscaling=autoscaling,
            max_replicas=max_replicas, resources=server_resources, pool_size=pool_size, max_overflow=max_overflow,
            **server_values,  # type: ignore[arg-type]
        ),
        ingress=ingress,
        monitoring=monitoring,
        network=network_policies,
    )


def _declared_keys() -> list[str]:
    """The project's keys as Pulumi.yaml declares them (the CLI itself lets undeclared ones through)."""
    project = yaml.safe_load(PROJECT_FILE.read_text())
    return [key for key in project.get("config", {}) if ":" not in key]


def _ingress(read: ConfigReader, namespace: str, tmp_size: str) -> IngressSsoArgs | None:
    host = read.optional("ingressHost", check=_dns_name_problem)
    sso_enabled = read.boolean("ssoEnabled")
    unauthenticated = read.boolean("allowUnauthenticatedIngress")
    if not host:
        return None
    sso: OidcSso | None = None
    if sso_enabled:
        issuer = read.optional("ssoIssuerUrl", check=_https_url_problem)
        client_id = read.optional("ssoClientId")
        client_secret = read.secret("ssoClientSecret")
        domains = read.string_list("ssoEmailDomains")
        groups = read.string_list("ssoAllowedGroups")
        for key, value in (("ssoIssuerUrl", issuer), ("ssoClientId", client_id), ("ssoClientSecret", client_secret)):
            if not value:
                read.fail(key, "is required while ssoEnabled is true and ingressHost is set"
                          + (" (set it with --secret)" if key == "ssoClientSecret" else ""))
        if not (domains or groups):
            read.fail("ssoEmailDomains", "set ssoEmailDomains (e.g. [\"example.com\"], or [\"*\"] for every account "
                                         "of the provider) or ssoAllowedGroups")
        sso = OidcSso(issuer_url=issuer or "", client_id=client_id or "", client_secret=client_secret or "",
                      email_domains=domains, allowed_groups=groups, image=read.image("oauth2ProxyImage", OAUTH2_PROXY_IMAGE))
    elif not unauthenticated:
        read.fail("ssoEnabled", f"an Ingress without SSO exposes MLflow to anyone who reaches {host}; enable SSO, or set "
                                f"{read.key('allowUnauthenticatedIngress')} to true to accept that")
    if read.problems:
        return None
    mib = int(parse_quantity(tmp_size) / 2**20)
    return IngressSsoArgs(
        namespace=namespace,
        host=host,
        service_name=SERVER_SERVICE_ACCOUNT,
        ingress_class=read.string("ingressClass", check=dns_label_problem),
        tls_cluster_issuer=read.optional("ingressTlsClusterIssuer", check=dns_label_problem),
        tls_secret=read.optional("ingressTlsSecret", check=dns_label_problem),
        sso=sso,
        max_body_size=f"{mib}m",
    )


def _monitoring(read: ConfigReader) -> MonitoringSettings | None:
    enabled = read.boolean("monitoringEnabled")
    release = read.string("monitoringReleaseLabel", check=_label_problem)
    latency = read.string("alertLatencyP95Seconds", check=_positive_number_problem)
    ratio = read.string("alertErrorRatio", check=_ratio_problem)
    if not enabled or read.problems:
        return None
    key, _, value = release.partition("=")
    return MonitoringSettings(release_labels={key: value},
                              thresholds=AlertThresholds(latency_p95_seconds=float(latency), error_ratio=float(ratio)))


def _dns_name_problem(value: str) -> str | None:
    labels = value.split(".")
    if len(labels) < 2 or any(dns_label_problem(label) for label in labels):
        return f"{value!r} is not a DNS name like mlflow.example.com"
    return None


def _https_url_problem(value: str) -> str | None:
    return None if value.startswith("https://") and " " not in value else f"{value!r} is not an https:// URL"


def _label_problem(value: str) -> str | None:
    key, sep, label = value.partition("=")
    return None if sep and key and label and " " not in value else f"{value!r} is not a label like release=kube-prometheus-stack"


def _positive_number_problem(value: str) -> str | None:
    try:
        return None if float(value) > 0 else f"{value!r} must be above 0"
    except ValueError:
        return f"{value!r} is not a number"


def _ratio_problem(value: str) -> str | None:
    try:
        return None if 0 < float(value) < 1 else f"{value!r} must be between 0 and 1 (0.1 is 10 %)"
    except ValueError:
        return f"{value!r} is not a number"


def _cron_problem(value: str) -> str | None:
    fields = value.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[0-9*/,\-]+|[A-Za-z]{3}", f) for f in fields):
        return f"{value!r} is not a 5-field cron schedule like '0 3 * * *'"
    return None


def _service_account_problem(value: str) -> str | None:
    namespace, _, account = value.partition(":")
    if dns_label_problem(namespace) or dns_label_problem(account):
        return f"{value!r} is not namespace:serviceaccount (e.g. training:trainer)"
    return None


def _prefix_problem(value: str) -> str | None:
    if value and (not value.endswith("/") or value.startswith("/") or " " in value):
        return f"{value!r} must be empty or end with '/' (e.g. mlflow/), without a leading '/'"
    return None


def _engine_version_problem(value: str) -> str | None:
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) < 14:
        return f"{value!r} is not a pinned PostgreSQL version like 17.6 (major 14 or later)"
    return None


def _instance_class_problem(value: str) -> str | None:
    return None if value.startswith("db.") and value.count(".") == 2 else f"{value!r} is not an RDS class like db.t4g.medium"


def _arn_problem(value: str) -> str | None:
    return None if value.startswith("arn:aws") and value.count(":") >= 5 else f"{value!r} is not an ARN"
