"""Pulumi components of an MLflow tracking platform on Kubernetes: compose them in any Pulumi program.

    from mlflow_platform import ArtifactBucket, MlflowPostgres, MlflowServer, IngressSSO, Monitoring, NetworkPolicies

docs/components.md lists each component's inputs and outputs and what a minor version may change.
"""

import pulumi

from mlflow_platform.artifact_bucket import ArtifactBucket, ArtifactBucketArgs, IrsaTrust
from mlflow_platform.ingress_sso import (
    OAUTH2_PROXY_PORT,
    AlbSettings,
    CloudflareTunnel,
    GatewayRef,
    IngressSSO,
    IngressSsoArgs,
    OidcSso,
)
from mlflow_platform.kube.labels import PART_OF
from mlflow_platform.mlflow_postgres import (
    ConnectionPooler,
    DatabaseNetwork,
    ExternalDatabase,
    MlflowPostgres,
    MlflowPostgresArgs,
    RdsOptions,
)
from mlflow_platform.mlflow_server import SERVER_PORT, MlflowServer, MlflowServerArgs
from mlflow_platform.monitoring import Monitoring, MonitoringArgs, ScrapeTarget
from mlflow_platform.network_policies import NetworkPolicies, NetworkPoliciesArgs

__version__ = "0.2.0"
PACKAGE_NAME = "mlflow-platform"
"""The schema's package name: every component's type is mlflow-platform:index:<Class>."""
COMPONENTS: tuple[type[pulumi.ComponentResource], ...] = (MlflowServer, MlflowPostgres, ArtifactBucket, IngressSSO,
                                                          Monitoring, NetworkPolicies)

__all__ = [
    "COMPONENTS",
    "OAUTH2_PROXY_PORT",
    "PACKAGE_NAME",
    "PART_OF",
    "SERVER_PORT",
    "AlbSettings",
    "ArtifactBucket",
    "ArtifactBucketArgs",
    "CloudflareTunnel",
    "ConnectionPooler",
    "DatabaseNetwork",
    "ExternalDatabase",
    "GatewayRef",
    "IngressSSO",
    "IngressSsoArgs",
    "IrsaTrust",
    "MlflowPostgres",
    "MlflowPostgresArgs",
    "MlflowServer",
    "MlflowServerArgs",
    "Monitoring",
    "MonitoringArgs",
    "NetworkPolicies",
    "NetworkPoliciesArgs",
    "OidcSso",
    "RdsOptions",
    "ScrapeTarget",
]
