"""Pulumi components of an MLflow tracking platform on Kubernetes: compose them in any Pulumi program.

    from mlflow_platform import ArtifactBucket, MlflowPostgres, MlflowServer, IngressSSO, Monitoring, NetworkPolicies

docs/components.md lists each component's inputs and outputs and what a minor version may change.
"""

from mlflow_platform.artifact_bucket import ArtifactBucket, ArtifactBucketArgs
from mlflow_platform.ingress_sso import IngressSSO, IngressSsoArgs
from mlflow_platform.mlflow_postgres import MlflowPostgres, MlflowPostgresArgs
from mlflow_platform.mlflow_server import MlflowServer, MlflowServerArgs
from mlflow_platform.monitoring import Monitoring, MonitoringArgs
from mlflow_platform.network_policies import NetworkPolicies, NetworkPoliciesArgs

__version__ = "0.2.0"

__all__ = [
    "ArtifactBucket",
    "ArtifactBucketArgs",
    "IngressSSO",
    "IngressSsoArgs",
    "MlflowPostgres",
    "MlflowPostgresArgs",
    "MlflowServer",
    "MlflowServerArgs",
    "Monitoring",
    "MonitoringArgs",
    "NetworkPolicies",
    "NetworkPoliciesArgs",
]
