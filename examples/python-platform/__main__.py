"""One team's MLflow platform from the package's components: a namespace of its own, PostgreSQL and MinIO in it,
the server, a route on a shared Gateway, and alerts. The namespace, the host and the bucket are outputs of the
Namespace resource, as values taken from other resources are in any real program."""

import pulumi
import pulumi_kubernetes as k8s

from mlflow_platform import (
    ArtifactBucket,
    GatewayRef,
    IngressSSO,
    IngressSsoArgs,
    MlflowPostgres,
    MlflowServer,
    MlflowServerArgs,
    Monitoring,
    MonitoringArgs,
    ScrapeTarget,
)

config = pulumi.Config()
team = k8s.core.v1.Namespace("team", metadata={"name": pulumi.get_stack()})
namespace = team.metadata.name
host = pulumi.Output.concat("mlflow.", namespace, ".", config.get("domain") or "localtest.me")

# Args as dicts (the form other languages use) or as the validated dataclasses: both are checked the same way.
artifacts = ArtifactBucket("artifacts", {
    "namespace": namespace,
    "backend": "minio",
    "bucket_name": pulumi.Output.concat(namespace, "-artifacts"),
    "data_protection": False,
})
database = MlflowPostgres("database", {"namespace": namespace, "data_protection": False})
server = MlflowServer("mlflow", MlflowServerArgs(
    namespace=namespace,
    backend_uri_secret_name=database.uri_secret_name,
    artifacts_destination=artifacts.artifacts_destination,
    artifact_store_env=artifacts.server_env,
    extra_allowed_hosts=(host,),
    cors_allowed_origins=(pulumi.Output.concat("https://", host),),
), opts=pulumi.ResourceOptions(depends_on=[database, artifacts]))
front_door = IngressSSO("route", IngressSsoArgs(
    namespace=namespace,
    host=host,
    service_name=server.service_name,
    gateway=GatewayRef(name=config.get("gateway") or "shared-gateway",
                       namespace=config.get("gatewayNamespace") or "gateways"),
))
Monitoring("monitoring", MonitoringArgs(
    namespace=namespace,
    server=ScrapeTarget(job="mlflow", selector=server.selector, port=server.metrics_port_name),
    # Your copy of docs/monitoring.md: each alert links its runbook section there.
    runbook_url=config.get("runbookUrl") or "https://git.example.com/platform/mlflow-platform/blob/v0.2.0/docs/monitoring.md",
))

pulumi.export("trackingUri", server.tracking_uri)
pulumi.export("trackingUrl", front_door.tracking_url)
pulumi.export("artifactBucket", artifacts.bucket_name)
