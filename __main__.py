"""mlflow-platform: read settings, build the components (the mlflow_platform package, as any consumer does), export
what other stacks read."""

import dataclasses

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlflow_platform import (
    OAUTH2_PROXY_PORT,
    PART_OF,
    SERVER_PORT,
    ArtifactBucket,
    IngressSSO,
    MlflowPostgres,
    MlflowServer,
    MlflowServerArgs,
    Monitoring,
    MonitoringArgs,
    NetworkPolicies,
    NetworkPoliciesArgs,
    ScrapeTarget,
)
from mlflow_platform.mlflow_postgres import DIRECT_URI_SECRET_KEY
from settings import SERVER_SERVICE_ACCOUNT, load_settings

settings = load_settings()

# Default providers are disabled (Pulumi.yaml): every resource below uses one of these.
k8s_provider = k8s.Provider("k8s", kubeconfig=settings.kubeconfig, context=settings.kube_context,
                            delete_unreachable=settings.delete_unreachable)
providers: list[pulumi.ProviderResource] = [k8s_provider, random.Provider("random")]
if settings.uses_aws:
    providers.append(aws.Provider("aws", region=settings.aws_region))

namespace = k8s.core.v1.Namespace(
    "namespace",
    metadata={
        "name": settings.namespace,
        "labels": {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
                   # Every pod here meets the restricted Pod Security Standard (tests/test_pod_security.py): the
                   # API server refuses one that does not, whoever creates it.
                   **{f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}},
    },
    # Deleting the namespace would delete the volumes in it: keep it whenever data is protected.
    opts=pulumi.ResourceOptions(provider=k8s_provider, retain_on_delete=settings.data_protection),
)
in_namespace = pulumi.ResourceOptions(providers=providers, depends_on=[namespace])

artifacts = ArtifactBucket("mlflow-artifacts", settings.artifacts, opts=in_namespace)
database = MlflowPostgres("mlflow-postgres", dataclasses.replace(settings.postgres, backup=artifacts.backup_target),
                          opts=in_namespace)
server = MlflowServer(
    SERVER_SERVICE_ACCOUNT,
    MlflowServerArgs(
        namespace=settings.namespace,
        backend_uri_secret_name=database.uri_secret_name,
        direct_uri_secret_key=DIRECT_URI_SECRET_KEY if settings.postgres.pooler else None,
        required_uri_query=database.required_uri_query,
        database_roles=database.roles(),
        artifacts_destination=artifacts.artifacts_destination,
        artifact_store_env=artifacts.server_env,
        service_account_annotations=artifacts.service_account_annotations,
        # The settings refuse the auth app with a URI of the user's own (auth_database_uri None).
        auth=settings.identity.server_auth(database.auth_database_uri)
        if settings.identity and database.auth_database_uri is not None else None,
        database_ca_secret=settings.postgres.ca_secret,
        database_volume_claim=database.volume_claim,
        pods=settings.pods,
        sizes=settings.sizes,
        **vars(settings.server),
    ),
    opts=pulumi.ResourceOptions(providers=providers, depends_on=[namespace, database, artifacts]),
)
in_namespace_after_server = pulumi.ResourceOptions(providers=providers, depends_on=[namespace, server])
front_door = IngressSSO("mlflow-ingress", settings.ingress, opts=in_namespace_after_server) if settings.ingress else None

if settings.monitoring:
    Monitoring("mlflow-monitoring", MonitoringArgs(
        namespace=settings.namespace,
        server=ScrapeTarget(job=SERVER_SERVICE_ACCOUNT, selector=server.selector, port=server.metrics_port_name),
        database=ScrapeTarget(job="mlflow-postgres", selector=database.pod_selector, port="metrics")
        if database.pod_selector else None,
        release_labels=settings.monitoring.release_labels,
        thresholds=settings.monitoring.thresholds,
        runbook_url=settings.monitoring.runbook_url,
    ), opts=in_namespace_after_server)

if settings.network:
    # The backup and gc jobs reach both the database and the object store.
    store_clients = tuple(s for s in (database.backup_selector, server.gc_selector) if s)
    # With a pooler gc reaches the database through it; the backup's pg_dump connects to the database itself.
    direct_clients = tuple(s for s in (database.backup_selector, None if database.pooler_selector else server.gc_selector)
                           if s)
    NetworkPolicies("mlflow-network", NetworkPoliciesArgs(
        namespace=settings.namespace,
        server=server.selector,
        migration=server.migration_selector,
        server_port=SERVER_PORT,
        jobs=server.jobs_selector,
        server_metrics_port=server.metrics_port,
        # The external server's port (externalDatabasePort, else its engine's: 5432, 3306); 5432 otherwise.
        database_port=settings.postgres.port,
        database=database.pod_selector,
        database_cidr=settings.network.database_cidr,
        # S3 and STS, and the token issuers' keys, are on 443; the AI gateway and judges' providers too.
        https_egress=settings.artifacts.backend == "s3" or settings.identity is not None
        or settings.network.allow_https_egress,
        backup=database.backup_selector,
        gc=server.gc_selector,
        database_clients=direct_clients,
        pooler=database.pooler_selector,
        pooler_port=database.pooler_port,
        object_store=artifacts.store.pod_selector,
        object_store_clients=store_clients,
        object_store_setup=artifacts.store.setup_selector,
        object_store_port=artifacts.store.port,
        object_store_cidr=artifacts.store.cidr,
        oauth2_proxy=front_door.proxy_selector if front_door else None,
        # cloudflared only connects out: its pods admit nobody.
        oauth2_proxy_port=None if settings.ingress and settings.ingress.cloudflare else OAUTH2_PROXY_PORT,
        front_door_name="cloudflared" if settings.ingress and settings.ingress.cloudflare else "oauth2-proxy",
        ingress_namespace=settings.network.ingress_namespace,
        ingress_cidr=settings.network.ingress_cidr,
        monitoring_namespace=settings.network.monitoring_namespace,
        scraped=settings.monitoring is not None,
        client_namespaces=settings.network.client_namespaces,
    ), opts=in_namespace_after_server)

pulumi.export("namespace", namespace.metadata.name)
pulumi.export("trackingUri", server.tracking_uri)
pulumi.export("serviceAccountName", server.service_account_name)
pulumi.export("artifactBucket", artifacts.bucket_name)
pulumi.export("artifactsDestination", artifacts.artifacts_destination)
pulumi.export("databaseEndpoint", database.endpoint)
for output, value in (("artifactBucketArn", artifacts.bucket_arn),
                      ("irsaRoleArn", artifacts.irsa_role_arn),
                      ("artifactReaderRoleArn", artifacts.artifact_reader_role_arn),
                      ("artifactBucketPolicy", artifacts.bucket_policy),
                      ("trackingUrl", front_door.tracking_url if front_door else None),
                      ("authTokenAudience", settings.identity.service_account_audience if settings.identity else None)):
    if value is not None:
        pulumi.export(output, value)
