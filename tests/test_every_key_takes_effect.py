"""Every key reaches what it configures (issue 28): each key of Pulumi.yaml, and each secret, set to a valid value other
than its context's changes the rendered objects where the key says it should, and nowhere else.

A key that is read and then dropped (backupRetentionDays 7 configured, 30 deployed) passes every test that looks at
defaults only; here it fails, because its entry expects the MinIO bucket's setup Job to change and nothing does.

How: the program runs under mocks (the harness's run, as the CLI gives it config) for a context (a stack with the
overrides that make the key apply, e.g. ssoEnabled for the sso* keys; rendered once for all its keys) and again with
the key changed; the runs are compared resource by resource (inputs with secrets unwrapped, provider, protect,
retainOnDelete, timeouts, aliases) and output by output. What differs must be the key's entry in EFFECTS, and the
new value must show in what changed. Dependencies and components are left out: they follow from what the resources
read. Keys whose one effect is to accept a configuration the program otherwise refuses are in OPT_INS with the
reason: their context is refused naming the key, and renders with it. A key added to Pulumi.yaml (or SECRET_KEYS)
without an entry, or an entry for a key that does not exist, fails test_every_key_has_one_entry.
"""
import contextvars
import copy
import functools
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import yaml

from conftest import CLOUDFLARE_FRONT_DOOR, MIRRORS, MONITORED, PROD_SECRETS
from harness import (
    CLUSTER_OUTPUTS,
    CLUSTER_STACK,
    PROJECT,
    PROJECT_FILE,
    ROOT,
    ProgramRun,
    _run_program,
    stack_config,
    unwrap_secrets,
)
from mlflow_platform.kube.resources import DEFAULT_RESOURCES
from settings import SECRET_KEYS, ConfigError


class Secret(NamedTuple):
    """A secret config value (`pulumi config set --secret`) with this plaintext."""

    text: str


# Another cluster stack for clusterStack: the same cluster facts but for its kubeconfig.
OTHER_CLUSTER_STACK = "acme/eks-cluster/staging"
STACK_REFERENCES = {CLUSTER_STACK: CLUSTER_OUTPUTS,
                    OTHER_CLUSTER_STACK: {**CLUSTER_OUTPUTS, "kubeconfig": {**CLUSTER_OUTPUTS["kubeconfig"],
                                                                            "clusters": [{"name": "staging"}]}}}
RUNBOOK = MONITORED["monitoringRunbookUrl"]
SSO_KEYS: dict[str, Any] = {"ssoIssuerUrl": "https://login.example.com", "ssoClientId": "mlflow",
                            "ssoClientSecret": {"secure": "v1:sso"}, "ssoEmailDomains": ["example.com"]}
GATEWAY_KEYS_UNSET: dict[str, Any] = {"gatewayClassName": None, "gatewayNamespace": None, "gatewayController": None}
CLOUDFLARE_KEYS = {key: CLOUDFLARE_FRONT_DOOR[key] for key in ("cloudflareTeamDomain", "cloudflareAudienceTag",
                                                               "cloudflareTunnelToken")}
EXTERNAL_DATABASE: dict[str, Any] = {"databaseMode": "external", "externalDatabaseHost": "db.example.com",
                                     "externalDatabasePassword": {"secure": "v1:db"}, "databaseCidr": "10.50.0.0/16"}
S3_COMPATIBLE: dict[str, Any] = {"artifactBackend": "s3-compatible", "artifactEndpointUrl": "https://rgw.example.com",
                                 "artifactCredentialsSecret": "store-keys", "networkAllowHttpsEgress": True,
                                 "backupsEnabled": False}
JOBS_AND_GC: dict[str, Any] = {"serverJobExecution": True, "postgresMaxConnections": 1100, "gcSchedule": "0 4 * * *"}
"""The server's keys reach the jobs pod and the gc CronJob too."""
ALL_PODS: dict[str, Any] = {**SSO_KEYS, "ssoEnabled": True, "authEnabled": True, "authAdminUsers": ["admin@example.com"],
                            **JOBS_AND_GC, **MONITORED}
"""Every pod a dev cluster runs: the server, jobs, gc, migration, PostgreSQL and its exporter, backups, MinIO,
oauth2-proxy, and the auth app's metrics sidecar."""
VOLUME = [{"name": "corp-ca", "configMap": {"name": "corp-ca"}}]
TRUSTED_PROGRAMS = ["https://login.example.com=mlflow-ci"]

# The stacks the keys are changed in: a stack file and the overrides that make the keys apply.
CONTEXTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev": ("dev", {}),
    "prod": ("prod", PROD_SECRETS),
    "prod-unprotected": ("prod", {**PROD_SECRETS, "dataProtection": False}),
    "dev-monitored": ("dev", MONITORED),
    "dev-with-runbook": ("dev", {"monitoringRunbookUrl": RUNBOOK}),
    "dev-two-replicas": ("dev", {"serverReplicas": 2, "postgresMaxConnections": 600}),
    "dev-one-worker": ("dev", {"serverWorkers": 1}),
    "dev-on-sqlite": ("dev", {"databaseMode": "sqlite", "serverWorkers": 1}),
    "dev-with-gc": ("dev", {"gcSchedule": "0 4 * * *"}),
    "dev-with-1100-connections": ("dev", {"postgresMaxConnections": 1100}),
    "dev-pooled": ("dev", {"databasePooler": True}),
    "dev-all-pods": ("dev", ALL_PODS),
    "dev-all-pods-with-volume": ("dev", {**ALL_PODS, "serverExtraVolumes": VOLUME}),
    "dev-without-policies": ("dev", {"networkPolicies": False}),
    "dev-external": ("dev", EXTERNAL_DATABASE),
    "dev-external-uri": ("dev", {**EXTERNAL_DATABASE, "externalDatabasePassword": None,
                                 "externalDatabaseUriSecret": "db-uri"}),
    "dev-s3-compatible": ("dev", {**S3_COMPATIBLE, **JOBS_AND_GC}),
    "dev-ingress": ("dev", {"frontDoor": "ingress", **GATEWAY_KEYS_UNSET}),
    "dev-ingress-with-tunnel-keys": ("dev", {"frontDoor": "ingress", **GATEWAY_KEYS_UNSET, **CLOUDFLARE_KEYS}),
    "dev-existing-gateway": ("dev", {"gatewayClassName": None, "gatewayName": "shared"}),
    "dev-with-sso-keys": ("dev", SSO_KEYS),
    "dev-sso": ("dev", {**SSO_KEYS, "ssoEnabled": True}),
    "prod-cloudflare": ("prod", CLOUDFLARE_FRONT_DOOR),
    "prod-with-plaintext-ok": ("prod", {**PROD_SECRETS, "allowPlaintextIngress": True}),
    "prod-with-in-cluster-stores-ok": ("prod", {**PROD_SECRETS, "allowInClusterStoresInProd": True}),
    "prod-with-everyone-admin-ok": ("prod", {**PROD_SECRETS, "allowEveryUserAsAdmin": True}),
    "prod-with-reads-around-ok": ("prod", {**PROD_SECRETS, "allowArtifactReadsAroundPermissions": True}),
    "prod-with-program-issuer": ("prod", {**PROD_SECRETS, "authTrustedIssuers": TRUSTED_PROGRAMS}),
}

# What changes, in short form (see short()): Kind/name, aws.Kind/name, provider.package/name, output:name.
EVERY_POD = {"Deployment/mlflow", "Deployment/mlflow-jobs", "CronJob/mlflow-gc", "Job/mlflow-migrate",
             "StatefulSet/mlflow-postgres", "CronJob/mlflow-postgres-backup", "Deployment/mlflow-artifacts",
             "Job/mlflow-artifacts-setup", "Deployment/mlflow-ingress-oauth2-proxy"}
"""Every workload of dev-all-pods (cloudflared is prod-cloudflare's)."""
DEV_NETWORK_POLICIES = {f"NetworkPolicy/mlflow-network-{name}" for name in ("default-deny", "server", "clients", "migration",
                                                                            "postgres", "backup", "minio", "minio-setup")}
EVERY_KUBERNETES_OBJECT = "every Kubernetes object"
"""Stands for every Kubernetes object of the context."""
OTHER_OIDC_PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/FEDCBA9876543210"
RDS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
S3_KEY = "arn:aws:kms:us-east-1:123456789012:key/abcd1234-ab12-cd34-ef56-abcdef123456"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
TOLERATIONS = [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}]}}}
KUBECONFIG = '{"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "explicit"}]}'

# One line per key: key -> (context, the value it is set to, what changes). A Secret(...) value is set as a secret.
EFFECTS: dict[str, tuple[str, Any, set[str]]] = {
    # --- Kubernetes
    "kubeContext": ("dev", "kind-other", {"provider.kubernetes/k8s"}),
    "namespace": ("dev", "mlops", {EVERY_KUBERNETES_OBJECT, "output:namespace", "output:trackingUri", "output:databaseEndpoint"}),
    "storageClass": ("dev", "fast-ssd",
                     {"PersistentVolumeClaim/mlflow-postgres-data", "PersistentVolumeClaim/mlflow-artifacts-data"}),
    "nodeSelector": ("dev-all-pods", {"node-pool": "ml-platform"}, EVERY_POD),
    "tolerations": ("dev-all-pods", TOLERATIONS, EVERY_POD),
    "affinity": ("dev-all-pods", AFFINITY, EVERY_POD),
    "priorityClassName": ("dev-all-pods", "ml-platform-high", EVERY_POD),
    "imagePullSecrets": ("dev-all-pods", ["registry-mirror"], EVERY_POD),
    "imageRegistryMirrors": ("dev-all-pods", MIRRORS, EVERY_POD),
    "podAnnotations": ("dev-all-pods", {"vault.hashicorp.com/agent-inject": "true"}, EVERY_POD),
    "podLabels": ("dev-all-pods", {"team": "ml-platform"}, EVERY_POD),
    "workloadResources": ("dev-all-pods", {part: {"limits": {"memory": "3Gi"}} for part in DEFAULT_RESOURCES}, EVERY_POD),
    "dataProtection": ("prod", False, {"Namespace/namespace", "aws.Bucket/mlflow-artifacts", "aws.Instance/mlflow-postgres",
        "provider.kubernetes/k8s"}),
    "awsRegion": ("prod", "eu-west-1", {"Deployment/mlflow", "Deployment/mlflow-jobs", "provider.aws/aws"}),
    "clusterStack": ("prod", OTHER_CLUSTER_STACK, {"provider.kubernetes/k8s"}),
    "oidcProviderArn": ("prod", OTHER_OIDC_PROVIDER, {"aws.Role/mlflow-artifacts-irsa"}),
    "oidcIssuerUrl": ("prod", "https://oidc.eks.us-east-1.amazonaws.com/id/FEDCBA9876543210", {"ConfigMap/mlflow-auth-module",
        "Deployment/mlflow", "Deployment/mlflow-jobs", "aws.Role/mlflow-artifacts-irsa"}),
    "vpcId": ("prod", "vpc-0f0e0d0c0b0a09080", {"aws.SecurityGroup/mlflow-postgres-sg"}),
    "privateSubnetIds": ("prod", ["subnet-0ddd4444", "subnet-0eee5555"], {"aws.SubnetGroup/mlflow-postgres-subnets"}),
    "nodeSecurityGroupId": ("prod", "sg-0fedcba9876543210", {"aws.SecurityGroupIngressRule/mlflow-postgres-from-cluster"}),
    # --- Database
    "databaseMode": ("dev-one-worker", "sqlite", {"CronJob/mlflow-postgres-backup", "Deployment/mlflow",
        "Job/mlflow-artifacts-setup", "Job/mlflow-migrate", "NetworkPolicy/mlflow-network-backup",
        "NetworkPolicy/mlflow-network-migration", "NetworkPolicy/mlflow-network-minio", "NetworkPolicy/mlflow-network-postgres",
        "NetworkPolicy/mlflow-network-server", "PersistentVolumeClaim/mlflow-postgres-data",
        "PersistentVolumeClaim/mlflow-postgres-sqlite", "RandomPassword/mlflow-artifacts-backup-secret-key",
        "RandomPassword/mlflow-postgres-app-password", "RandomPassword/mlflow-postgres-backup-password",
        "RandomPassword/mlflow-postgres-password", "RandomString/mlflow-artifacts-backup-access-key",
        "Secret/mlflow-artifacts-backup-credentials", "Secret/mlflow-postgres-credentials", "Secret/mlflow-postgres-roles",
        "Secret/mlflow-postgres-uri", "Service/mlflow-postgres-headless", "StatefulSet/mlflow-postgres",
        "output:databaseEndpoint"}),
    "postgresImage": ("dev", "docker.io/library/postgres:17.5", {"CronJob/mlflow-postgres-backup",
        "StatefulSet/mlflow-postgres"}),
    "postgresExporterImage": ("dev-monitored", "quay.io/prometheuscommunity/postgres-exporter:v0.17.0",
                              {"StatefulSet/mlflow-postgres"}),
    "postgresStorageSize": ("dev", "20Gi", {"CronJob/mlflow-postgres-backup", "PersistentVolumeClaim/mlflow-postgres-data"}),
    "sqliteStorageSize": ("dev-on-sqlite", "3Gi", {"PersistentVolumeClaim/mlflow-postgres-sqlite"}),
    "postgresMaxConnections": ("dev", 450, {"StatefulSet/mlflow-postgres"}),
    "rdsEngineVersion": ("prod", "17.5", {"aws.Instance/mlflow-postgres"}),
    "rdsInstanceClass": ("prod", "db.r7g.xlarge", {"aws.Instance/mlflow-postgres"}),
    "rdsAllocatedStorageGb": ("prod", 80, {"aws.Instance/mlflow-postgres"}),
    "rdsMaxAllocatedStorageGb": ("prod", 300, {"aws.Instance/mlflow-postgres"}),
    "rdsMultiAz": ("prod", False, {"aws.Instance/mlflow-postgres"}),
    "rdsBackupRetentionDays": ("prod", 21, {"aws.Instance/mlflow-postgres"}),
    "rdsDeletionProtection": ("prod-unprotected", False, {"aws.Instance/mlflow-postgres"}),
    "rdsStorageEncrypted": ("prod-unprotected", False, {"aws.Instance/mlflow-postgres"}),
    "rdsKmsKeyArn": ("prod", RDS_KEY, {"aws.Instance/mlflow-postgres"}),
    "externalDatabaseEngine": ("dev-external", "mysql", {"NetworkPolicy/mlflow-network-migration",
        "NetworkPolicy/mlflow-network-server", "Secret/mlflow-postgres-uri", "output:databaseEndpoint"}),
    "externalDatabaseHost": ("dev-external", "db2.example.com", {"Secret/mlflow-postgres-uri", "output:databaseEndpoint"}),
    "externalDatabasePort": ("dev-external", 6432, {"NetworkPolicy/mlflow-network-migration",
        "NetworkPolicy/mlflow-network-server", "Secret/mlflow-postgres-uri", "output:databaseEndpoint"}),
    "externalDatabaseUriSecret": ("dev-external-uri", "other-db-uri", {"Deployment/mlflow", "Job/mlflow-migrate"}),
    "externalDatabaseCreatesRoles": ("dev-external", True, {"Deployment/mlflow", "Job/mlflow-migrate",
        "RandomPassword/mlflow-postgres-app-password", "Secret/mlflow-postgres-roles", "Secret/mlflow-postgres-uri"}),
    "externalDatabaseSslMode": ("dev-external", "disable", {"Secret/mlflow-postgres-uri"}),
    "databasePooler": ("dev", True, {"Deployment/mlflow-postgres-pooler", "Service/mlflow-postgres-pooler",
        "Secret/mlflow-postgres-pooler", "PodDisruptionBudget/mlflow-postgres-pooler", "Secret/mlflow-postgres-uri",
        "NetworkPolicy/mlflow-network-pooler", "NetworkPolicy/mlflow-network-server",
        "NetworkPolicy/mlflow-network-postgres"}),
    "databasePoolerReplicas": ("dev-pooled", 3, {"Deployment/mlflow-postgres-pooler"}),
    "databasePoolerPoolSize": ("dev-pooled", 25, {"Deployment/mlflow-postgres-pooler", "Secret/mlflow-postgres-pooler"}),
    "databasePoolerMaxClientConnections": ("dev-pooled", 3000, {"Deployment/mlflow-postgres-pooler",
                                                                "Secret/mlflow-postgres-pooler"}),
    "databasePoolerImage": ("dev-pooled", "ghcr.io/cloudnative-pg/pgbouncer:1.25.1", {"Deployment/mlflow-postgres-pooler"}),
    "postgresCpuRequest": ("dev", "300m", {"StatefulSet/mlflow-postgres"}),
    "postgresCpuLimit": ("dev", "3", {"StatefulSet/mlflow-postgres"}),
    "postgresMemoryRequest": ("dev", "600Mi", {"StatefulSet/mlflow-postgres"}),
    "postgresMemoryLimit": ("dev", "3Gi", {"StatefulSet/mlflow-postgres"}),
    "backupsEnabled": ("dev", False, {"CronJob/mlflow-postgres-backup", "Deployment/mlflow", "Job/mlflow-artifacts-setup",
        "Job/mlflow-migrate", "NetworkPolicy/mlflow-network-backup", "NetworkPolicy/mlflow-network-minio",
        "NetworkPolicy/mlflow-network-postgres", "RandomPassword/mlflow-artifacts-backup-secret-key",
        "RandomPassword/mlflow-postgres-backup-password", "RandomString/mlflow-artifacts-backup-access-key",
        "Secret/mlflow-artifacts-backup-credentials", "Secret/mlflow-postgres-roles"}),
    "backupSchedule": ("dev", "30 2 * * *", {"CronJob/mlflow-postgres-backup"}),
    "gcSchedule": ("dev", "15 5 * * *", {"CronJob/mlflow-gc", "NetworkPolicy/mlflow-network-gc",
        "NetworkPolicy/mlflow-network-minio", "NetworkPolicy/mlflow-network-postgres"}),
    "gcOlderThan": ("dev-with-gc", "9d12h", {"CronJob/mlflow-gc"}),
    "backupRetentionDays": ("dev", 9, {"Job/mlflow-artifacts-setup"}),
    # --- Artifacts
    "artifactBackend": ("prod-with-in-cluster-stores-ok", "minio", {"Deployment/mlflow", "Deployment/mlflow-artifacts",
        "Deployment/mlflow-jobs", "Job/mlflow-artifacts-setup", "NetworkPolicy/mlflow-network-jobs",
        "NetworkPolicy/mlflow-network-minio", "NetworkPolicy/mlflow-network-minio-setup", "NetworkPolicy/mlflow-network-server",
        "PersistentVolumeClaim/mlflow-artifacts-data", "RandomPassword/mlflow-artifacts-mlflow-secret-key",
        "RandomPassword/mlflow-artifacts-root-password", "RandomString/mlflow-artifacts-mlflow-access-key",
        "RandomString/mlflow-artifacts-root-user", "Secret/mlflow-artifacts-mlflow-credentials", "Secret/mlflow-artifacts-root",
        "Service/mlflow-artifacts", "ServiceAccount/mlflow", "aws.Bucket/mlflow-artifacts",
        "aws.BucketLifecycleConfiguration/mlflow-artifacts-lifecycle", "aws.BucketOwnershipControls/mlflow-artifacts-ownership",
        "aws.BucketPolicy/mlflow-artifacts-tls-only", "aws.BucketPublicAccessBlock/mlflow-artifacts-public-access",
        "aws.BucketServerSideEncryptionConfiguration/mlflow-artifacts-encryption",
        "aws.BucketVersioning/mlflow-artifacts-versioning", "aws.Role/mlflow-artifacts-irsa",
        "aws.RolePolicy/mlflow-artifacts-irsa-s3", "output:artifactBucketArn", "output:irsaRoleArn"}),
    "artifactBucket": ("dev", "team-artifacts", {"CronJob/mlflow-postgres-backup", "Deployment/mlflow",
        "Job/mlflow-artifacts-setup", "output:artifactBucket", "output:artifactsDestination"}),
    "artifactPrefix": ("dev", "tracking/", {"Deployment/mlflow", "Job/mlflow-artifacts-setup", "output:artifactsDestination"}),
    "artifactKmsKeyArn": ("prod", S3_KEY, {"aws.BucketServerSideEncryptionConfiguration/mlflow-artifacts-encryption",
                                           "aws.RolePolicy/mlflow-artifacts-irsa-s3"}),
    "irsaTrustedServiceAccounts": ("prod-with-reads-around-ok", ["training:trainer"], {"aws.Role/mlflow-artifacts-irsa-reader",
        "aws.RolePolicy/mlflow-artifacts-irsa-reader-s3", "output:artifactReaderRoleArn"}),
    "artifactNoncurrentVersionDays": ("prod", 45, {"aws.BucketLifecycleConfiguration/mlflow-artifacts-lifecycle"}),
    "artifactEndpointUrl": ("dev-s3-compatible", "https://objects.example.com", {"CronJob/mlflow-gc", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "artifactCredentialsSecret": ("dev-s3-compatible", "other-store-keys", {"CronJob/mlflow-gc", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "artifactEndpointRegion": ("dev-s3-compatible", "auto", {"CronJob/mlflow-gc", "Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "artifactEndpointAddressingStyle": ("dev-s3-compatible", "virtual", {"CronJob/mlflow-gc", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "artifactEndpointCidr": ("dev-s3-compatible", "10.44.0.0/16", {"NetworkPolicy/mlflow-network-gc",
        "NetworkPolicy/mlflow-network-jobs", "NetworkPolicy/mlflow-network-server"}),
    "minioImage": ("dev", "quay.io/minio/minio:RELEASE.2025-01-01T00-00-00Z", {"Deployment/mlflow-artifacts"}),
    "minioClientImage": ("dev", "quay.io/minio/mc:RELEASE.2025-01-01T00-00-00Z", {"Job/mlflow-artifacts-setup"}),
    "minioStorageSize": ("dev", "15Gi", {"PersistentVolumeClaim/mlflow-artifacts-data"}),
    # --- MLflow server
    "mlflowImage": ("dev-all-pods", "registry.example.com/mlflow:v3.17.2-full", {"CronJob/mlflow-gc",
        "CronJob/mlflow-postgres-backup", "Deployment/mlflow", "Deployment/mlflow-jobs", "Job/mlflow-migrate"}),
    "serverReplicas": ("dev-with-1100-connections", 2, {"Deployment/mlflow", "PodDisruptionBudget/mlflow"}),
    "serverWorkers": ("dev-all-pods", 1, {"Deployment/mlflow"}),
    "serverJobExecution": ("dev-with-1100-connections", True, {"Deployment/mlflow-jobs", "HTTPRoute/mlflow-ingress",
        "NetworkPolicy/mlflow-network-clients", "NetworkPolicy/mlflow-network-jobs", "NetworkPolicy/mlflow-network-minio",
        "NetworkPolicy/mlflow-network-postgres", "Service/mlflow-jobs"}),
    "serverAutoscaling": ("dev-with-1100-connections", True, {"Deployment/mlflow", "HorizontalPodAutoscaler/mlflow",
        "PodDisruptionBudget/mlflow"}),
    "serverDisruptionBudget": ("dev-two-replicas", {"minAvailable": 1}, {"PodDisruptionBudget/mlflow"}),
    "serverMaxReplicas": ("prod", 4, {"Deployment/mlflow", "HorizontalPodAutoscaler/mlflow"}),
    "serverTargetCpuUtilization": ("prod", 60, {"HorizontalPodAutoscaler/mlflow"}),
    "serverCpuRequest": ("dev", "700m", {"Deployment/mlflow"}),
    "serverCpuLimit": ("dev", "3", {"Deployment/mlflow"}),
    "serverMemoryRequest": ("dev", "1500Mi", {"Deployment/mlflow"}),
    "serverMemoryLimit": ("dev", "3Gi", {"Deployment/mlflow"}),
    "serverTmpSize": ("dev", "3Gi", {"ClientSettingsPolicy/mlflow-ingress-client-settings", "Deployment/mlflow"}),
    "serverMetrics": ("dev-all-pods", False, {"Deployment/mlflow", "Deployment/mlflow-jobs",
        "NetworkPolicy/mlflow-network-server", "Service/mlflow", "ServiceMonitor/mlflow-monitoring-mlflow"}),
    "serverRejectOverlongValues": ("dev-all-pods", True, {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "serverExtraAllowedHosts": ("dev-all-pods", ["mlflow.internal.example.com"], {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "serverSpreadTopologyKeys": ("dev", ["topology.kubernetes.io/zone"], {"Deployment/mlflow"}),
    "serverSpreadWhenUnsatisfiable": ("dev", "DoNotSchedule", {"Deployment/mlflow"}),
    "serverStaticPrefix": ("dev", "/mlflow", {"Deployment/mlflow", "HTTPRoute/mlflow-ingress", "output:trackingUri",
        "output:trackingUrl"}),
    "serverServiceType": ("dev-without-policies", "NodePort", {"Deployment/mlflow", "Service/mlflow"}),
    "serverServiceAnnotations": ("dev", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}, {"Service/mlflow"}),
    "serverEnv": ("dev-all-pods", {"MLFLOW_LOGGING_LEVEL": "DEBUG"}, {"CronJob/mlflow-gc", "Deployment/mlflow",
        "Deployment/mlflow-jobs", "Job/mlflow-migrate"}),
    "serverEnvFrom": ("dev-all-pods", [{"secretRef": {"name": "team-llm-keys"}}], {"Deployment/mlflow", "Deployment/mlflow-jobs",
        "Job/mlflow-migrate"}),
    "serverExtraVolumes": ("dev-all-pods", VOLUME, {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "serverExtraVolumeMounts": ("dev-all-pods-with-volume", [{"name": "corp-ca", "mountPath": "/etc/corp-ca", "readOnly": True}],
        {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "serverExtraArgs": ("dev-all-pods", ["--x-frame-options=DENY"], {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "dbPoolSize": ("dev-all-pods", 6, {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "dbMaxOverflow": ("dev-all-pods", 37, {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "dbPoolRecycleSeconds": ("dev-all-pods", 600, {"Deployment/mlflow", "Deployment/mlflow-jobs"}),
    # --- Front door
    "ingressHost": ("dev", "mlflow.dev.example.com", {"Deployment/mlflow", "Gateway/mlflow-ingress-gateway",
        "HTTPRoute/mlflow-ingress", "output:trackingUrl"}),
    "frontDoor": ("dev-ingress-with-tunnel-keys", "cloudflare", {"Deployment/mlflow", "Deployment/mlflow-ingress-cloudflared",
        "Ingress/mlflow-ingress", "NetworkPolicy/mlflow-network-cloudflared", "NetworkPolicy/mlflow-network-server",
        "PodDisruptionBudget/mlflow-ingress-cloudflared", "Secret/mlflow-ingress-cloudflared", "output:trackingUrl"}),
    "gatewayClassName": ("dev", "nginx-internal", {"Gateway/mlflow-ingress-gateway"}),
    "gatewayController": ("dev", "other", {"ClientSettingsPolicy/mlflow-ingress-client-settings", "HTTPRoute/mlflow-ingress",
        "ProxySettingsPolicy/mlflow-ingress-proxy-settings"}),
    "gatewayName": ("dev", "platform", {"Gateway/mlflow-ingress-gateway", "HTTPRoute/mlflow-ingress"}),
    "gatewayNamespace": ("prod", "gateways", {"Gateway/mlflow-ingress-gateway", "HTTPRoute/mlflow-ingress",
        "LoadBalancerConfiguration/mlflow-ingress-load-balancer"}),
    "gatewaySectionName": ("dev-existing-gateway", "https", {"HTTPRoute/mlflow-ingress"}),
    "albScheme": ("prod", "internal", {"LoadBalancerConfiguration/mlflow-ingress-load-balancer"}),
    "albSubnetIds": ("prod", ["subnet-0aaa1111", "subnet-0bbb2222"], {"LoadBalancerConfiguration/mlflow-ingress-load-balancer"}),
    "albCertificateArn": ("prod", CERTIFICATE, {"LoadBalancerConfiguration/mlflow-ingress-load-balancer"}),
    "albHttps": ("prod-with-plaintext-ok", False, {"Deployment/mlflow", "Deployment/mlflow-ingress-oauth2-proxy",
        "Deployment/mlflow-jobs", "Gateway/mlflow-ingress-gateway", "output:trackingUrl"}),
    "cloudflareTeamDomain": ("prod-cloudflare", "other.cloudflareaccess.com", {"ConfigMap/mlflow-auth-module",
        "Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "cloudflareAudienceTag": ("prod-cloudflare", "0123456789abcdef" * 4, {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "cloudflaredImage": ("prod-cloudflare", "docker.io/cloudflare/cloudflared:2025.1.0",
                         {"Deployment/mlflow-ingress-cloudflared"}),
    "ingressClass": ("dev-ingress", "alb", {"Ingress/mlflow-ingress"}),
    "ingressAnnotations": ("dev-ingress", {"example.com/team": "ml"}, {"Ingress/mlflow-ingress"}),
    "ingressTlsClusterIssuer": ("dev-ingress", "letsencrypt", {"Deployment/mlflow", "Ingress/mlflow-ingress",
        "output:trackingUrl"}),
    "ingressTlsSecret": ("dev-ingress", "mlflow-cert", {"Deployment/mlflow", "Ingress/mlflow-ingress", "output:trackingUrl"}),
    "ssoEnabled": ("dev-with-sso-keys", True, {"Deployment/mlflow-ingress-oauth2-proxy", "HTTPRoute/mlflow-ingress",
        "NetworkPolicy/mlflow-network-oauth2-proxy", "NetworkPolicy/mlflow-network-server",
        "PodDisruptionBudget/mlflow-ingress-oauth2-proxy", "RandomPassword/mlflow-ingress-oauth2-proxy-cookie-secret",
        "Secret/mlflow-ingress-oauth2-proxy", "Service/mlflow-ingress-oauth2-proxy"}),
    "ssoIssuerUrl": ("dev-sso", "https://login2.example.com", {"Deployment/mlflow-ingress-oauth2-proxy"}),
    "ssoClientId": ("dev-sso", "mlflow-ui", {"Deployment/mlflow-ingress-oauth2-proxy"}),
    "ssoEmailDomains": ("dev-sso", ["example.org"], {"Deployment/mlflow-ingress-oauth2-proxy"}),
    "ssoAllowedGroups": ("dev-sso", ["ml-team"], {"Deployment/mlflow-ingress-oauth2-proxy"}),
    "ssoAllowedPrograms": ("dev-sso", ["ci@example.com"], {"Deployment/mlflow-ingress-oauth2-proxy",
        "Secret/mlflow-ingress-oauth2-proxy"}),
    "oauth2ProxyImage": ("dev-sso", "quay.io/oauth2-proxy/oauth2-proxy:v7.9.0", {"Deployment/mlflow-ingress-oauth2-proxy"}),
    # --- Identity
    "authEnabled": ("prod-with-everyone-admin-ok", False, {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs", "Job/mlflow-migrate", "NetworkPolicy/mlflow-network-server",
        "RandomPassword/mlflow-auth-admin-password", "RandomPassword/mlflow-auth-flask-secret-key", "Secret/mlflow-auth",
        "Service/mlflow", "ServiceMonitor/mlflow-monitoring-mlflow", "output:authTokenAudience"}),
    "authDefaultPermission": ("prod", "NO_PERMISSIONS", {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs", "Secret/mlflow-auth"}),
    "authAdminUsers": ("prod", ["other-admin@example.com"], {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "authAdminGroups": ("dev-all-pods", ["mlflow-admins"], {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "authAdminIssuers": ("prod-with-program-issuer", ["https://accounts.google.com", "https://login.example.com"],
                         {"ConfigMap/mlflow-auth-module", "Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "authTrustedIssuers": ("prod", TRUSTED_PROGRAMS, {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-ingress-oauth2-proxy", "Deployment/mlflow-jobs"}),
    "authServiceAccountAudience": ("prod", "mlflow-jobs", {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs", "output:authTokenAudience"}),
    "authServiceAccountNamespaces": ("prod", ["training"], {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "authAllowBasicAuth": ("prod-unprotected", True, {"ConfigMap/mlflow-auth-module", "Deployment/mlflow",
        "Deployment/mlflow-jobs"}),
    "authJobTrackingCalls": ("prod", False, {"ConfigMap/mlflow-auth-module", "Deployment/mlflow", "Deployment/mlflow-jobs"}),
    "authWorkspaces": ("prod", {"vision": {"members": ["vision-lead@example.com"]}}, {"ConfigMap/mlflow-auth-module",
        "Deployment/mlflow", "Deployment/mlflow-jobs", "Secret/mlflow-auth"}),
    # --- Monitoring
    "monitoringEnabled": ("dev-with-runbook", True, {"ConfigMap/mlflow-monitoring-dashboard", "Deployment/mlflow",
        "Job/mlflow-migrate", "NetworkPolicy/mlflow-network-postgres", "NetworkPolicy/mlflow-network-server",
        "PrometheusRule/mlflow-monitoring-alerts", "RandomPassword/mlflow-postgres-monitor-password",
        "Secret/mlflow-postgres-roles", "Service/mlflow-postgres-headless", "ServiceMonitor/mlflow-monitoring-mlflow",
        "ServiceMonitor/mlflow-monitoring-mlflow-postgres", "StatefulSet/mlflow-postgres"}),
    "monitoringReleaseLabel": ("dev-monitored", "prometheus=main", {"PrometheusRule/mlflow-monitoring-alerts",
        "ServiceMonitor/mlflow-monitoring-mlflow", "ServiceMonitor/mlflow-monitoring-mlflow-postgres"}),
    "monitoringRunbookUrl": ("dev-monitored", "https://git.example.com/other/docs/monitoring.md",
                             {"PrometheusRule/mlflow-monitoring-alerts"}),
    "alertLatencyP95Seconds": ("dev-monitored", "3.5", {"PrometheusRule/mlflow-monitoring-alerts"}),
    "alertErrorRatio": ("dev-monitored", "0.25", {"PrometheusRule/mlflow-monitoring-alerts"}),
    # --- Network
    "networkPolicies": ("dev", False, DEV_NETWORK_POLICIES),
    "ingressControllerNamespace": ("prod", "ingress-system", {"NetworkPolicy/mlflow-network-oauth2-proxy"}),
    "monitoringNamespace": ("dev-monitored", "prometheus", {"NetworkPolicy/mlflow-network-postgres",
        "NetworkPolicy/mlflow-network-server"}),
    "networkClientNamespaces": ("dev-all-pods", ["training"], {"NetworkPolicy/mlflow-network-jobs",
        "NetworkPolicy/mlflow-network-server"}),
    "databaseCaSecret": ("prod", "rds-ca", {"Deployment/mlflow", "Deployment/mlflow-jobs", "Job/mlflow-migrate",
        "Secret/mlflow-auth", "Secret/mlflow-postgres-roles", "Secret/mlflow-postgres-uri"}),
    "databaseCidr": ("prod", "10.30.0.0/16", {"NetworkPolicy/mlflow-network-jobs", "NetworkPolicy/mlflow-network-migration",
        "NetworkPolicy/mlflow-network-oauth2-proxy", "NetworkPolicy/mlflow-network-server"}),
    "networkAllowHttpsEgress": ("dev", True, {"NetworkPolicy/mlflow-network-server"}),
    # --- Secrets (SECRET_KEYS)
    "clusterKubeconfig": ("dev", Secret(KUBECONFIG), {"provider.kubernetes/k8s"}),
    "externalDatabasePassword": ("dev-external", Secret("another-database-password"), {"Secret/mlflow-postgres-uri"}),
    "ssoClientSecret": ("prod", Secret("another-client-secret"), {"Secret/mlflow-ingress-oauth2-proxy"}),
    "cloudflareTunnelToken": ("prod-cloudflare", Secret("another-tunnel-token"), {"Secret/mlflow-ingress-cloudflared"}),
}

# Keys whose one effect is to accept what the program refuses without them (dataProtection's guard rails, the open
# front doors). The objects are those of the configuration they let through, so there is nothing of their own to see
# in them: each is checked by the refusal instead. Key -> (context, the overrides refused unless the key is true, why).
PLAINTEXT_STORE = {"artifactBackend": "s3-compatible", "artifactEndpointUrl": "http://rgw.internal:7480",
                   "artifactCredentialsSecret": "store-keys", "artifactEndpointCidr": "10.40.0.0/16"}
OPT_INS: dict[str, tuple[str, dict[str, Any], str]] = {
    "allowUnauthenticatedIngress": ("dev", {"allowUnauthenticatedIngress": None}, "accepts a front door without SSO"),
    "allowPlaintextIngress": ("prod", {"albHttps": False}, "accepts a front door without TLS (dataProtection)"),
    "allowDisabledNetworkPolicies": ("prod", {"networkPolicies": False}, "accepts networkPolicies false (dataProtection)"),
    "allowInClusterStoresInProd": ("prod", {"artifactBackend": "minio"}, "accepts MinIO, in-cluster PostgreSQL (dataProtection)"),
    "allowEveryUserAsAdmin": ("prod", {"authEnabled": False}, "accepts authEnabled false (dataProtection)"),
    "allowArtifactReadsAroundPermissions": ("prod", {"irsaTrustedServiceAccounts": ["training:trainer"]},
                                            "accepts irsaTrustedServiceAccounts beside the auth app (dataProtection)"),
    "allowPlaintextArtifactEndpoint": ("prod", PLAINTEXT_STORE, "accepts an http:// artifactEndpointUrl (dataProtection)"),
    "allowUnverifiedDatabaseTls": ("prod", {"allowUnverifiedDatabaseTls": None},
                                   "accepts sslmode require, RDS without databaseCaSecret (dataProtection)"),
    "ssoAllowAnyAccount": ("prod", {"ssoEmailDomains": ["*"]}, 'accepts ssoEmailDomains ["*"] without groups (dataProtection)'),
}

# What shows in the changed objects when it is not the value itself (None: nothing to look for, e.g. a boolean).
SHOWN_AS: dict[str, Any] = {
    "clusterStack": "staging",  # the other cluster stack's kubeconfig
    "imageRegistryMirrors": list(MIRRORS.values()),  # images are pulled through the mirrors, not from the registries
    "workloadResources": "3Gi",
    "monitoringReleaseLabel": ["prometheus", "main"],  # key=value becomes a label
    "gatewayController": None,  # other: no implementation's policies
}


# --- Rendering and comparing ------------------------------------------------------------------------------------


def render(context: str, key: str | None = None, value: Any = None) -> ProgramRun:
    """The context's run, or with `key` set to `value` (a Secret: a secret config value with its text)."""
    stack, overrides = CONTEXTS[context]
    overrides = dict(overrides)
    if key is not None:
        overrides[key] = {"secure": "v1:changed"} if isinstance(value, Secret) else value
    config = stack_config(stack, overrides)
    if isinstance(value, Secret):
        config.values[f"{PROJECT}:{key}"] = value.text
    return contextvars.Context().run(_run_program, stack, config, False, STACK_REFERENCES, ROOT)


@functools.cache
def base(context: str) -> dict[str, Any]:
    """Each context is rendered once for all its keys."""
    return snapshot(render(context))


def snapshot(run: ProgramRun) -> dict[str, Any]:
    """What the engine would be told, by resource (in short form, see short()) and stack output (output:name)."""
    state: dict[str, Any] = {}
    # Components hold no settings of their own, and dependencies follow from what a resource reads (a component's
    # children, the cluster stack's reference): what differs there differs in the resources that matter.
    for r in run.resources:
        if r.custom:
            assert short(r.type, r.name) not in state, f"two resources are {short(r.type, r.name)}"
            state[short(r.type, r.name)] = {
                "type": r.type, "urn": r.urn, "provider": r.provider, "inputs": unwrap_secrets(r.inputs),
                "protect": r.protect, "retainOnDelete": r.retain_on_delete, "customTimeouts": r.custom_timeouts,
                "additionalSecretOutputs": sorted(r.additional_secret_outputs), "aliases": list(r.aliases)}
    for name, value in run.stack_outputs.items():
        state[f"output:{name}"] = unwrap_secrets(value)
    return state


def short(type_token: str, name: str) -> str:
    """How the tables name a resource: Kind/name for Kubernetes objects and random values, aws.Kind/name,
    provider.package/name."""
    package, _, kind = type_token.rpartition(":")
    if type_token.startswith("pulumi:providers:"):
        return f"provider.{kind}/{name}"
    return f"{'aws.' if package.startswith('aws:') else ''}{kind}/{name}"


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def expanded(expected: set[str], before: dict[str, Any]) -> set[str]:
    if EVERY_KUBERNETES_OBJECT not in expected:
        return expected
    return expected - {EVERY_KUBERNETES_OBJECT} | {name for name, state in before.items()
                                                   if isinstance(state, dict) and state["type"].startswith("kubernetes:")}


def leaves(value: Any) -> Iterator[str]:
    """Every string a value holds, dict keys included, numbers as text."""
    if isinstance(value, Secret):
        yield value.text
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, float) and value.is_integer():
        yield str(int(value))
    else:
        yield str(value)


def config_string(context: str, key: str | None = None, value: Any = None) -> dict[str, str]:
    """The config the program receives in the context, or with `key` set to `value`."""
    stack, overrides = CONTEXTS[context]
    return stack_config(stack, overrides if key is None else {**overrides, key: value}).values


# --- The tests --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def parse_yaml_once() -> Iterator[None]:
    """A run parses Pulumi.yaml four times (the CLI's merge, the harness, the settings): most of its time with
    PyYAML's Python loader. Here each text is parsed once, and every caller gets its own copy."""
    parse = functools.cache(yaml.safe_load)

    def safe_load(stream: Any) -> Any:
        return copy.deepcopy(parse(stream)) if isinstance(stream, str) else parse.__wrapped__(stream)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml, "safe_load", safe_load)
        yield


def declared_keys() -> set[str]:
    return {key for key in PROJECT_FILE["config"] if ":" not in key}


def test_every_key_has_one_entry() -> None:
    """A key added to Pulumi.yaml or SECRET_KEYS needs its case here; an entry for a key that is gone is refused."""
    keys = declared_keys() | set(SECRET_KEYS)
    assert not set(EFFECTS) & set(OPT_INS), "a key is either seen in the objects or an opt-in, not both"
    assert sorted(keys - set(EFFECTS) - set(OPT_INS)) == [], "keys without a case in EFFECTS (or OPT_INS)"
    assert sorted((set(EFFECTS) | set(OPT_INS)) - keys) == [], "cases for keys that neither Pulumi.yaml nor SECRET_KEYS has"
    assert set(CONTEXTS) == {context for context, _, _ in EFFECTS.values()}, "every context is used"


@pytest.mark.parametrize("key", sorted(EFFECTS))
def test_the_key_changes_what_it_configures_and_nothing_else(key: str) -> None:
    context, value, expected = EFFECTS[key]
    assert isinstance(value, Secret) == (key in SECRET_KEYS), "secrets are set as secrets, and only they"
    if not isinstance(value, Secret):
        assert config_string(context).get(f"{PROJECT}:{key}") != config_string(context, key, value)[f"{PROJECT}:{key}"], \
            f"{value!r} is {key}'s value in {context} already"
    before = base(context)
    after = snapshot(render(context, key, value))
    assert changed(before, after) == expanded(expected, before)
    # And the value itself is what changed there (not, say, a default that moved with it).
    strings = list(leaves([after[name] for name in changed(before, after) if name in after]))
    missing = [leaf for leaf in leaves(SHOWN_AS.get(key, value)) if not any(leaf in string for string in strings)]
    assert not missing, f"{key}: {missing} is in none of the changed objects"


@pytest.mark.parametrize("key", sorted(OPT_INS))
def test_an_opt_in_accepts_what_is_refused_without_it(key: str) -> None:
    context, refused, _ = OPT_INS[key]
    stack, overrides = CONTEXTS[context]
    with pytest.raises(ConfigError, match=f"{PROJECT}:{key}"):
        render_overrides(stack, {**overrides, **refused})
    render_overrides(stack, {**overrides, **refused, key: True})


def render_overrides(stack: str, overrides: dict[str, Any]) -> ProgramRun:
    return contextvars.Context().run(_run_program, stack, stack_config(stack, overrides), False, STACK_REFERENCES, ROOT)
