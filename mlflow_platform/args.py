"""The components' validated Args, in one place for the schema generator and the conversion of inputs."""

from mlflow_platform.artifact_bucket.args import ArtifactBucketArgs
from mlflow_platform.ingress_sso.args import IngressSsoArgs
from mlflow_platform.mlflow_postgres.args import MlflowPostgresArgs
from mlflow_platform.mlflow_server.args import MlflowServerArgs
from mlflow_platform.monitoring.args import MonitoringArgs
from mlflow_platform.network_policies.args import NetworkPoliciesArgs

COMPONENT_ARGS: tuple[type, ...] = (MlflowServerArgs, MlflowPostgresArgs, ArtifactBucketArgs, IngressSsoArgs,
                                    MonitoringArgs, NetworkPoliciesArgs)
