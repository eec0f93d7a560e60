"""The declared format of every config key: its type and the rule its value must follow.

Pulumi.yaml declares each key's type and default; this table adds the rule, by the grammar of the value's format
(a DNS label, a quantity, an ARN of one service and resource type, ...), so that values nobody thought of are refused
too. The reader checks each key it reads by its entry, and every other key that is set (settings/__init__.py), so a
malformed value is refused even where the stack does not use it. tests/test_config_formats.py sends every string key
the same set of hostile values and checks the table covers Pulumi.yaml exactly.
"""

from mlflow_platform.artifact_bucket.args import (
    ADDRESSING_STYLES,
    ARTIFACT_BACKENDS,
    endpoint_url_problem,
    signing_region_problem,
)
from mlflow_platform.ingress_sso.args import ALB_SCHEMES, GATEWAY_CONTROLLERS
from mlflow_platform.kube.pods import qualified_name_problem
from mlflow_platform.mlflow_postgres.args import DATABASE_MODES
from mlflow_platform.mlflow_postgres.engines import DATABASE_ENGINES
from mlflow_platform.mlflow_server.args import SERVICE_TYPES, WHEN_UNSATISFIABLE
from mlflow_platform.mlflow_server.auth import PERMISSIONS
from mlflow_platform.mlflow_server.extensions import flag_problems, static_prefix_problem
from mlflow_platform.validation import (
    acm_certificate_arn_problem,
    arn_problem,
    bucket_name_problem,
    cidr_problem,
    cron_problem,
    database_host_problem,
    dns_label_problem,
    dns_name_problem,
    dns_subdomain_problem,
    host_problem,
    https_url_problem,
    image_problem,
    issuer_url_problem,
    namespace_problem,
    older_than_problem,
    page_url_problem,
    program_identity_problem,
    subnet_id_problem,
)
from settings.checks import (
    audience_tag_problem,
    aws_region_problem,
    client_id_problem,
    cloudflare_team_problem,
    email_domain_problem,
    engine_version_problem,
    group_problem,
    instance_class_problem,
    kube_context_problem,
    label_problem,
    oidc_provider_arn_problem,
    positive_number_problem,
    prefix_problem,
    ratio_problem,
    security_group_id_problem,
    service_account_problem,
    stack_reference_problem,
    token_audience_problem,
    trusted_issuer_problem,
    vpc_id_problem,
)
from settings.database import SSL_MODES
from settings.front_door import FRONT_DOORS
from settings.rules import Check, Format, integer, one_of, quantity, strings, text

BOOLEAN = Format("boolean", "true or false")
IMAGE = text(image_problem, "an image reference by the distribution grammar, pinned by tag (not latest) or digest")
SUBDOMAIN = text(dns_subdomain_problem, "a DNS subdomain (RFC 1123, lower case, up to 253 characters)")
LABEL = text(dns_label_problem, "a DNS label (RFC 1123, lower case, up to 63 characters)")
SUBDOMAINS = strings(dns_subdomain_problem, "a DNS subdomain (RFC 1123)")
LABELS = strings(dns_label_problem, "a DNS label (RFC 1123)")
CPU = quantity("1m", "256")
MEMORY = quantity("16Mi", "1Ti")
STORAGE = quantity("1Gi", "64Ti")
HTTPS_URL = text(https_url_problem, "an https URL with a host, no fragment")
ISSUERS = strings(issuer_url_problem, "an OIDC issuer URL (https; http only for localhost)")
GROUPS = strings(group_problem, "a group name: 1-255 characters, no control characters, commas or quotes")
# An object or a list of objects: the area that reads it checks the inside, by the Kubernetes API's own rules.
OBJECT = Format("object", "a JSON object, checked by the area that reads it")
OBJECTS = Format("array", "a JSON list of objects, checked by the area that reads it")


def _cidr(network: str) -> Check:
    return lambda value: cidr_problem(value, network)


def _flag(value: str) -> str | None:
    return "; ".join(flag_problems([value])) or None


FORMATS: dict[str, Format] = {
    # Kubernetes
    "kubeContext": text(kube_context_problem, "a kubeconfig context name: 1-253 printable ASCII characters"),
    "namespace": text(namespace_problem, "a DNS label, not kube-* nor default"),
    "storageClass": SUBDOMAIN,
    "nodeSelector": OBJECT,
    "tolerations": OBJECTS,
    "affinity": OBJECT,
    "priorityClassName": SUBDOMAIN,
    "imagePullSecrets": SUBDOMAINS,
    "imageRegistryMirrors": OBJECT,
    "podAnnotations": OBJECT,
    "podLabels": OBJECT,
    "workloadResources": OBJECT,
    "dataProtection": BOOLEAN,
    "awsRegion": text(aws_region_problem, "an AWS region like us-east-1"),
    # Cluster facts
    "clusterStack": text(stack_reference_problem, "a stack reference: [<organization>/[<project>/]]<stack>"),
    "oidcProviderArn": text(oidc_provider_arn_problem, "an IAM OIDC provider ARN"),
    "oidcIssuerUrl": text(issuer_url_problem, "the cluster's OIDC issuer URL (https; http only for localhost)"),
    "vpcId": text(vpc_id_problem, "a VPC id: vpc- and 8 or 17 lower-case hex digits"),
    "privateSubnetIds": strings(subnet_id_problem, "a subnet id: subnet- and 8 or 17 lower-case hex digits"),
    "nodeSecurityGroupId": text(security_group_id_problem, "a security group id: sg- and 8 or 17 lower-case hex digits"),
    # Database
    "databaseMode": one_of(*DATABASE_MODES),
    "postgresImage": IMAGE,
    "postgresExporterImage": IMAGE,
    "postgresStorageSize": STORAGE,
    "sqliteStorageSize": quantity("64Mi", "1Ti"),
    "postgresMaxConnections": integer(20, 10000),
    "rdsEngineVersion": text(engine_version_problem, "a PostgreSQL major.minor version, 14 or later"),
    "rdsInstanceClass": text(instance_class_problem, "an RDS instance class: db.<family>.<size>"),
    "rdsAllocatedStorageGb": integer(20, 65536),
    "rdsMaxAllocatedStorageGb": integer(20, 65536),
    "rdsMultiAz": BOOLEAN,
    "rdsBackupRetentionDays": integer(0, 35),
    "rdsDeletionProtection": BOOLEAN,
    "rdsStorageEncrypted": BOOLEAN,
    "rdsKmsKeyArn": text(arn_problem, "a KMS key or alias ARN"),
    "externalDatabaseEngine": one_of(*DATABASE_ENGINES),
    "externalDatabaseHost": text(database_host_problem, "a host name or an IP address"),
    "externalDatabasePort": integer(0, 65535),
    "externalDatabaseUriSecret": SUBDOMAIN,
    "externalDatabaseCreatesRoles": BOOLEAN,
    "externalDatabaseSslMode": one_of(*SSL_MODES),
    "databasePooler": BOOLEAN,
    "databasePoolerReplicas": integer(1, 20),
    "databasePoolerPoolSize": integer(1, 1000),
    "databasePoolerMaxClientConnections": integer(10, 100000),
    "databasePoolerImage": IMAGE,
    "postgresCpuRequest": CPU,
    "postgresCpuLimit": CPU,
    "postgresMemoryRequest": MEMORY,
    "postgresMemoryLimit": MEMORY,
    "backupsEnabled": BOOLEAN,
    "backupSchedule": text(cron_problem, "a cron schedule Kubernetes accepts (5 fields)"),
    "gcSchedule": text(cron_problem, "a cron schedule Kubernetes accepts (5 fields)"),
    "gcOlderThan": text(older_than_problem, "a duration mlflow gc reads: [Nd][Nh][Nm][Ns]"),
    "backupRetentionDays": integer(1, 3650),
    # Artifacts
    "artifactBackend": one_of(*ARTIFACT_BACKENDS),
    "artifactBucket": text(bucket_name_problem, "an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"),
    "artifactPrefix": text(prefix_problem, "an S3 key prefix of safe characters, each segment ending in '/'"),
    "artifactKmsKeyArn": text(arn_problem, "a KMS key or alias ARN"),
    "irsaTrustedServiceAccounts": strings(service_account_problem, "namespace:serviceaccount, not in kube-system"),
    "artifactNoncurrentVersionDays": integer(1, 3650),
    "artifactEndpointUrl": text(endpoint_url_problem, "an http(s)://host[:port] URL"),
    "artifactCredentialsSecret": SUBDOMAIN,
    "artifactEndpointRegion": text(signing_region_problem, "a signing region: a DNS label like us-east-1"),
    "artifactEndpointAddressingStyle": one_of(*ADDRESSING_STYLES),
    "artifactEndpointCidr": text(_cidr("the store's network"), "a network in CIDR form, not 0.0.0.0/0"),
    "minioImage": IMAGE,
    "minioClientImage": IMAGE,
    "minioStorageSize": STORAGE,
    # Server
    "mlflowImage": IMAGE,
    "serverReplicas": integer(1, 50),
    "serverWorkers": integer(1, 32),
    "serverJobExecution": BOOLEAN,
    "serverAutoscaling": BOOLEAN,
    "serverDisruptionBudget": OBJECT,
    "serverMaxReplicas": integer(1, 100),
    "serverTargetCpuUtilization": integer(10, 100),
    "serverCpuRequest": CPU,
    "serverCpuLimit": CPU,
    "serverMemoryRequest": MEMORY,
    "serverMemoryLimit": MEMORY,
    "serverTmpSize": quantity("1Mi", "1Ti"),
    "serverMetrics": BOOLEAN,
    "serverRejectOverlongValues": BOOLEAN,
    "serverExtraAllowedHosts": strings(host_problem, "a host or host:port pattern MLflow matches (* wildcards)"),
    "serverSpreadTopologyKeys": strings(qualified_name_problem, "a Kubernetes label key (qualified name)"),
    "serverSpreadWhenUnsatisfiable": one_of(*WHEN_UNSATISFIABLE),
    "serverStaticPrefix": text(static_prefix_problem, "a path like /mlflow"),
    "serverServiceType": one_of(*SERVICE_TYPES),
    "serverServiceAnnotations": OBJECT,
    "serverEnv": OBJECT,
    "serverEnvFrom": OBJECTS,
    "serverExtraVolumes": OBJECTS,
    "serverExtraVolumeMounts": OBJECTS,
    "serverExtraArgs": strings(_flag, "--option or --option=value, of the options you may add"),
    "dbPoolSize": integer(1, 100),
    "dbMaxOverflow": integer(1, 100),
    "dbPoolRecycleSeconds": integer(30, 86400),
    # Front door
    "ingressHost": text(dns_name_problem, "a DNS name with at least two labels, up to 253 characters"),
    "frontDoor": one_of(*FRONT_DOORS),
    "gatewayClassName": SUBDOMAIN,
    "gatewayController": one_of(*GATEWAY_CONTROLLERS),
    "gatewayName": SUBDOMAIN,
    "gatewayNamespace": LABEL,
    "gatewaySectionName": SUBDOMAIN,
    "albScheme": one_of(*ALB_SCHEMES),
    "albSubnetIds": strings(subnet_id_problem, "a subnet id: subnet- and 8 or 17 lower-case hex digits"),
    "albCertificateArn": text(acm_certificate_arn_problem, "an ACM certificate ARN"),
    "albHttps": BOOLEAN,
    "cloudflareTeamDomain": text(cloudflare_team_problem, "<team>.cloudflareaccess.com, or its https URL"),
    "cloudflareAudienceTag": text(audience_tag_problem, "an Access application's AUD tag: 64 lower-case hex digits"),
    "cloudflaredImage": IMAGE,
    "ingressClass": SUBDOMAIN,
    "ingressAnnotations": OBJECT,
    "ingressTlsClusterIssuer": SUBDOMAIN,
    "ingressTlsSecret": SUBDOMAIN,
    "ssoEnabled": BOOLEAN,
    "allowUnauthenticatedIngress": BOOLEAN,
    "allowPlaintextIngress": BOOLEAN,
    "allowDisabledNetworkPolicies": BOOLEAN,
    "allowInClusterStoresInProd": BOOLEAN,
    "allowEveryUserAsAdmin": BOOLEAN,
    "allowArtifactReadsAroundPermissions": BOOLEAN,
    "allowPlaintextArtifactEndpoint": BOOLEAN,
    "allowUnverifiedDatabaseTls": BOOLEAN,
    "ssoIssuerUrl": HTTPS_URL,
    "ssoClientId": text(client_id_problem, "an OAuth client id: 1-255 printable ASCII characters without spaces"),
    "ssoEmailDomains": strings(email_domain_problem, "a lower-case domain name, or *"),
    "ssoAllowAnyAccount": BOOLEAN,
    "ssoAllowedGroups": GROUPS,
    "ssoAllowedPrograms": strings(program_identity_problem, "a token's e-mail or sub (printable ASCII, no spaces)"),
    "oauth2ProxyImage": IMAGE,
    # Identity
    "authEnabled": BOOLEAN,
    "authDefaultPermission": one_of(*PERMISSIONS),
    "authAdminUsers": strings(program_identity_problem, "a username: an e-mail or sub (printable ASCII, no spaces)"),
    "authAdminGroups": GROUPS,
    "authAdminIssuers": ISSUERS,
    "authTrustedIssuers": strings(trusted_issuer_problem, "issuer=audience, the issuer an OIDC issuer URL"),
    "authServiceAccountAudience": text(token_audience_problem, "a token audience: 1-253 printable ASCII characters"),
    "authServiceAccountNamespaces": LABELS,
    "authAllowBasicAuth": BOOLEAN,
    "authJobTrackingCalls": BOOLEAN,
    "authWorkspaces": OBJECT,
    # Monitoring
    "monitoringEnabled": BOOLEAN,
    "monitoringReleaseLabel": text(label_problem, "key=value by Kubernetes' label rules"),
    "monitoringRunbookUrl": text(page_url_problem, "an http(s) URL of a page, no fragment"),
    "alertLatencyP95Seconds": text(positive_number_problem, "a finite number above 0 (ASCII)"),
    "alertErrorRatio": text(ratio_problem, "a number between 0 and 1 (ASCII)"),
    # Network
    "networkPolicies": BOOLEAN,
    "ingressControllerNamespace": LABEL,
    "monitoringNamespace": LABEL,
    "networkClientNamespaces": LABELS,
    "databaseCaSecret": SUBDOMAIN,
    "databaseCidr": text(_cidr("the database's network"), "a network in CIDR form, not 0.0.0.0/0"),
    "networkAllowHttpsEgress": BOOLEAN,
}
