"""mlflow-platform: read settings, build the components, export what other stacks read."""


import pulumi
import pulumi_kubernetes as k8s

from components.artifact_bucket import ArtifactBucket
from components.labels import PART_OF
from components.mlflow_postgres import MlflowPostgres
from components.mlflow_server import MlflowServer, MlflowServerArgs
from settings import load_settings

settings = load_settings()

provider = k8s.Provider("k8s", context=settings.kube_context)
namespace = k8s.core.v1.Namespace(
    "namespace",
    metadata={
        "name": settings.namespace,
        "labels": {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"},
    },
    # Deleting the namespace would delete the volumes in it: keep it whenever the volumes are kept.
    opts=pulumi.ResourceOptions(provider=provider, retain_on_delete=settings.postgres.retain_on_delete),
)
in_namespace = pulumi.ResourceOptions(providers=[provider], depends_on=[namespace])

database = MlflowPostgres("mlflow-postgres", settings.postgres, opts=in_namespace)
artifacts = ArtifactBucket("mlflow-artifacts", settings.artifacts, opts=in_namespace)
server = MlflowServer(
    "mlflow",
    MlflowServerArgs(
        namespace=settings.namespace,
        backend_uri_secret_name=database.uri_secret_name,
        artifacts_destination=artifacts.artifacts_destination,
        artifact_store_env=artifacts.server_env,
        **vars(settings.server),
    ),
    opts=pulumi.ResourceOptions(providers=[provider], depends_on=[namespace, database, artifacts]),
)

pulumi.export("namespace", namespace.metadata.name)
pulumi.export("trackingUri", server.tracking_uri)
pulumi.export("serviceAccountName", server.service_account_name)
pulumi.export("artifactBucket", artifacts.bucket_name)
pulumi.export("artifactsDestination", artifacts.artifacts_destination)
pulumi.export("databaseHost", database.host)
