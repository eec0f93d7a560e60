"""mlflow-platform: read settings, build the components, export what other stacks read."""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.artifact_bucket import ArtifactBucket
from components.labels import PART_OF
from components.mlflow_postgres import MlflowPostgres
from components.mlflow_server import MlflowServer, MlflowServerArgs
from settings import SERVER_SERVICE_ACCOUNT, load_settings

settings = load_settings()

k8s_provider = k8s.Provider("k8s", kubeconfig=settings.kubeconfig, context=settings.kube_context)
providers: list[pulumi.ProviderResource] = [k8s_provider]
if settings.uses_aws:
    providers.append(aws.Provider("aws", region=settings.aws_region))

namespace = k8s.core.v1.Namespace(
    "namespace",
    metadata={
        "name": settings.namespace,
        "labels": {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"},
    },
    # Deleting the namespace would delete the volumes in it: keep it whenever data is protected.
    opts=pulumi.ResourceOptions(provider=k8s_provider, retain_on_delete=settings.data_protection),
)
in_namespace = pulumi.ResourceOptions(providers=providers, depends_on=[namespace])

database = MlflowPostgres("mlflow-postgres", settings.postgres, opts=in_namespace)
artifacts = ArtifactBucket("mlflow-artifacts", settings.artifacts, opts=in_namespace)
server = MlflowServer(
    SERVER_SERVICE_ACCOUNT,
    MlflowServerArgs(
        namespace=settings.namespace,
        backend_uri_secret_name=database.uri_secret_name,
        artifacts_destination=artifacts.artifacts_destination,
        artifact_store_env=artifacts.server_env,
        service_account_annotations=artifacts.service_account_annotations,
        **vars(settings.server),
    ),
    opts=pulumi.ResourceOptions(providers=providers, depends_on=[namespace, database, artifacts]),
)

pulumi.export("namespace", namespace.metadata.name)
pulumi.export("trackingUri", server.tracking_uri)
pulumi.export("serviceAccountName", server.service_account_name)
pulumi.export("artifactBucket", artifacts.bucket_name)
pulumi.export("artifactsDestination", artifacts.artifacts_destination)
pulumi.export("databaseEndpoint", pulumi.Output.format("{0}:{1}", database.host, database.port))
for output, value in (("artifactBucketArn", artifacts.outputs.get("bucketArn")),
                      ("irsaRoleArn", artifacts.outputs.get("irsaRoleArn"))):
    if value is not None:
        pulumi.export(output, value)
