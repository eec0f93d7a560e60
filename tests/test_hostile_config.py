"""Hostile and invalid stack configurations: each is refused at preview with its key named and what is allowed,
or, where it is legitimately accepted, the test says why.

The values reach the program as the CLI passes them (strings), with the CLI's own type checks skipped
(`--skip-config-validation`), so what is tested is the program's own refusal: the CLI's rules are in
tests/test_engine_rules.py.
"""

from typing import Any

import pytest

from conftest import CLOUDFLARE_FRONT_DOOR, PROD_SECRETS
from harness import run_program
from settings import ConfigError

EXTERNAL = {"databaseMode": "external", "externalDatabaseHost": "pg.internal.example.com",
            "externalDatabasePassword": {"secure": "v1:encrypted"}}

# (stack, overrides, key, what the message says)
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    # Integers: ASCII digits only (int() takes '3_0' as 30, and other scripts' digits: Arabic-Indic, full-width).
    ("dev", {"serverReplicas": "3_0"}, "serverReplicas", "is not an integer (ASCII digits only)"),
    ("dev", {"serverReplicas": "\u0663"}, "serverReplicas", "is not an integer"),
    ("dev", {"serverWorkers": "\uff12"}, "serverWorkers", "is not an integer"),
    ("dev", {"serverReplicas": " 2"}, "serverReplicas", "is not an integer"),
    ("dev", {"serverReplicas": "2.0"}, "serverReplicas", "is not an integer"),
    ("dev", {"serverReplicas": "1e3"}, "serverReplicas", "is not an integer"),
    ("dev", {"dbPoolSize": "-5"}, "dbPoolSize", "-5 is out of range"),
    ("dev", {"serverMaxReplicas": "99999999999999999999"}, "serverMaxReplicas", "is out of range"),
    ("dev", {"postgresMaxConnections": "\uff11\uff17\uff16"}, "postgresMaxConnections", "is not an integer"),
    ("dev", {"backupRetentionDays": "0x10"}, "backupRetentionDays", "is not an integer"),
    # Quantities: strict, bounded; the body limit is never 0m (nginx: unlimited).
    ("dev", {"serverTmpSize": "0"}, "serverTmpSize", "0 is out of range; allowed: 1Mi to 1Ti"),
    ("dev", {"serverTmpSize": "100Ki"}, "serverTmpSize", "100Ki is out of range; allowed: 1Mi to 1Ti"),
    ("dev", {"serverTmpSize": "999Ei"}, "serverTmpSize", "999Ei is out of range"),
    ("dev", {"serverTmpSize": " 4Gi"}, "serverTmpSize", "' 4Gi' is not a Kubernetes quantity"),
    ("dev", {"serverTmpSize": "4Gi "}, "serverTmpSize", "is not a Kubernetes quantity"),
    ("dev", {"serverTmpSize": "-1Gi"}, "serverTmpSize", "is not a Kubernetes quantity"),
    ("dev", {"serverTmpSize": "\u0664Gi"}, "serverTmpSize", "is not a Kubernetes quantity"),
    ("dev", {"serverCpuRequest": "0"}, "serverCpuRequest", "0 is out of range; allowed: 1m to 256"),
    ("dev", {"serverCpuLimit": "0"}, "serverCpuLimit", "0 is out of range"),
    ("dev", {"serverMemoryLimit": "0"}, "serverMemoryLimit", "0 is out of range; allowed: 16Mi to 1Ti"),
    ("dev", {"serverMemoryRequest": "3Gi", "serverMemoryLimit": "2Gi"}, "serverMemoryRequest",
     "memory request 3Gi is above its limit 2Gi"),
    ("dev", {"postgresCpuRequest": "3", "postgresCpuLimit": "2"}, "postgresCpuRequest", "cpu request 3 is above"),
    ("dev", {"postgresStorageSize": "100Mi"}, "postgresStorageSize", "100Mi is out of range; allowed: 1Gi to 64Ti"),
    ("dev", {"minioStorageSize": "1Ei"}, "minioStorageSize", "1Ei is out of range"),
    # Cron: Kubernetes' shape, croniter's values.
    ("dev", {"backupSchedule": "*/0 99 * * *"}, "backupSchedule", "is not a cron schedule Kubernetes accepts"),
    ("dev", {"backupSchedule": "0 3 * * * *"}, "backupSchedule", "is not a cron schedule Kubernetes accepts"),
    ("dev", {"backupSchedule": "0 3 L * *"}, "backupSchedule", "is not a cron schedule Kubernetes accepts"),
    ("dev", {"backupSchedule": "0 3 * * 1#2"}, "backupSchedule", "is not a cron schedule Kubernetes accepts"),
    ("dev", {"backupSchedule": "60 3 * * *"}, "backupSchedule", "is not a cron schedule Kubernetes accepts"),
    ("dev", {"backupSchedule": "TZ=UTC 0 3 * * *"}, "backupSchedule", "is not a cron schedule Kubernetes accepts"),
    ("dev", {"backupSchedule": "@every 1h"}, "backupSchedule", "is not a cron schedule Kubernetes accepts"),
    # mlflow gc --older-than: days, hours, minutes, seconds in that order (mlflow/cli/__init__.py), more than nothing.
    ("dev", {"gcSchedule": "0 4 * * *", "gcOlderThan": "30"}, "gcOlderThan", "is not a duration mlflow gc reads"),
    ("dev", {"gcSchedule": "0 4 * * *", "gcOlderThan": "1w"}, "gcOlderThan", "is not a duration mlflow gc reads"),
    ("dev", {"gcSchedule": "0 4 * * *", "gcOlderThan": "12h1d"}, "gcOlderThan", "is not a duration mlflow gc reads"),
    ("dev", {"gcSchedule": "0 4 * * *", "gcOlderThan": "1..5d"}, "gcOlderThan", "is not a duration mlflow gc reads"),
    ("dev", {"gcSchedule": "0 4 * * *", "gcOlderThan": "-1d"}, "gcOlderThan", "is not a duration mlflow gc reads"),
    ("dev", {"gcSchedule": "0 4 * * *", "gcOlderThan": "0d0h"}, "gcOlderThan", "is no time at all"),
    ("dev", {"gcSchedule": "0 4 * * 8"}, "gcSchedule", "is not a cron schedule Kubernetes accepts"),
    ("dev", {"databaseMode": "sqlite", "serverWorkers": 1, "dataProtection": False, "gcSchedule": "0 4 * * *"},
     "gcSchedule", "cannot mount databaseMode sqlite's volume"),
    # Thresholds are finite numbers.
    ("dev", {"alertLatencyP95Seconds": "inf"}, "alertLatencyP95Seconds", "'inf' is not a finite number"),
    ("dev", {"alertLatencyP95Seconds": "nan"}, "alertLatencyP95Seconds", "'nan' is not a finite number"),
    ("dev", {"alertLatencyP95Seconds": "1e999"}, "alertLatencyP95Seconds", "is not a finite number"),
    ("dev", {"alertLatencyP95Seconds": "0"}, "alertLatencyP95Seconds", "'0' must be above 0"),
    ("dev", {"alertErrorRatio": "NaN"}, "alertErrorRatio", "is not a finite number"),
    ("dev", {"alertErrorRatio": "1.5"}, "alertErrorRatio", "must be between 0 and 1"),
    # The artifact prefix: a plain key prefix, never a wildcard, never the whole bucket, not the backups'.
    ("dev", {"artifactPrefix": "*/"}, "artifactPrefix", "is not a key prefix like mlflow/"),
    ("dev", {"artifactPrefix": "ml*/"}, "artifactPrefix", "is not a key prefix like mlflow/"),
    ("dev", {"artifactPrefix": "mlflow?/"}, "artifactPrefix", "is not a key prefix like mlflow/"),
    ("dev", {"artifactPrefix": ""}, "artifactPrefix", "not empty (empty would give MLflow the whole bucket)"),
    ("dev", {"artifactPrefix": "../"}, "artifactPrefix", "is not a key prefix like mlflow/"),
    ("dev", {"artifactPrefix": "mlflow//"}, "artifactPrefix", "is not a key prefix like mlflow/"),
    ("dev", {"artifactPrefix": "backups/"}, "artifactPrefix", "overlaps 'backups/', where the database backups go"),
    ("dev", {"artifactPrefix": "backups/mlflow/"}, "artifactPrefix", "overlaps 'backups/'"),
    # Allowed hosts never admit every Host header.
    ("dev", {"serverExtraAllowedHosts": ["*"]}, "serverExtraAllowedHosts", "admits every Host header"),
    ("dev", {"serverExtraAllowedHosts": ["*:*"]}, "serverExtraAllowedHosts", "admits every Host header"),
    ("dev", {"serverExtraAllowedHosts": ["*.*"]}, "serverExtraAllowedHosts", "admits every Host header"),
    ("dev", {"serverExtraAllowedHosts": ["evil.com/x"]}, "serverExtraAllowedHosts", "is not a host name"),
    ("dev", {"serverExtraAllowedHosts": ["a@b"]}, "serverExtraAllowedHosts", "is not a host name"),
    # AWS region: a real region's shape, nothing a shell or an ARN could take.
    ("prod", {"awsRegion": "us-east-1; curl x|sh"}, "awsRegion", "is not an AWS region like us-east-1"),
    ("prod", {"awsRegion": "US-EAST-1"}, "awsRegion", "is not an AWS region"),
    ("prod", {"awsRegion": "us-east"}, "awsRegion", "is not an AWS region"),
    # Names: DNS subdomains where Kubernetes takes them, labels where it takes labels.
    ("dev", {"storageClass": "EBS_GP3"}, "storageClass", "is not a DNS subdomain"),
    ("dev", {"storageClass": "a..b"}, "storageClass", "is not a DNS subdomain"),
    ("dev", {"namespace": "mlflow.prod"}, "namespace", "must be lower-case letters"),
    ("dev", {"ingressControllerNamespace": "mlflow"}, "ingressControllerNamespace",
     "'mlflow' is the platform's own namespace"),
    # IRSA trust: never kube-system, never the server's own account again.
    ("prod", {"irsaTrustedServiceAccounts": ["kube-system:default"]}, "irsaTrustedServiceAccounts",
     "is in kube-system"),
    ("prod", {"irsaTrustedServiceAccounts": ["mlflow:mlflow"]}, "irsaTrustedServiceAccounts",
     "is the MLflow server's own ServiceAccount"),
    ("prod", {"irsaTrustedServiceAccounts": ["training"]}, "irsaTrustedServiceAccounts", "is not namespace:serviceaccount"),
    # The external database: a host name or an IP, nothing that adds URI parameters.
    ("prod", {**EXTERNAL, "externalDatabaseHost": "db.example.com?sslmode=disable&application_name="},
     "externalDatabaseHost", "is not a host name or IP address"),
    ("prod", {**EXTERNAL, "externalDatabaseHost": "user@db.example.com"}, "externalDatabaseHost",
     "is not a host name or IP address"),
    ("prod", {**EXTERNAL, "externalDatabaseHost": "db.example.com/other"}, "externalDatabaseHost",
     "is not a host name or IP address"),
    ("prod", {**EXTERNAL, "externalDatabaseHost": "db.example.com:6432"}, "externalDatabaseHost",
     "is not a host name or IP address"),
    ("prod", {**EXTERNAL, "externalDatabasePort": "-1"}, "externalDatabasePort", "-1 is out of range"),
    ("prod", {**EXTERNAL, "externalDatabaseEngine": "mariadb"}, "externalDatabaseEngine", "'mariadb' is not allowed"),
    ("prod", {"externalDatabaseEngine": "mysql"}, "externalDatabaseEngine", "mysql is for databaseMode external"),
    ("prod", {**EXTERNAL, "externalDatabaseSslMode": "allow"}, "externalDatabaseSslMode", "'allow' is not allowed"),
    # Verification needs a CA, and a CA needs verification.
    ("prod", {**EXTERNAL, "externalDatabaseSslMode": "verify-full"}, "externalDatabaseSslMode",
     "verify-full needs the server's CA"),
    ("prod", {**EXTERNAL, "databaseCaSecret": "db-ca"}, "databaseCaSecret", "externalDatabaseSslMode require does not verify"),
    ("dev", {"databaseCaSecret": "db-ca"}, "databaseCaSecret", "is for a database outside the cluster"),
    ("prod", {"databaseCaSecret": "RDS_CA"}, "databaseCaSecret", "is not a DNS subdomain"),
    # A program's e-mail or sub as oauth2-proxy reads its list (CSV, '#' comments): anything else is another value.
    *(("prod", {"ssoAllowedPrograms": [value]}, "ssoAllowedPrograms", "printable ASCII characters without spaces")
      for value in ("", "ci bot", "a,b", '"quoted"', "#0oa1", "ci\u00e9", "x" * 256, "tab\there")),
]

# Values of the same kinds as the corpus above that a first corpus let through (issue 28): each key checked by the
# grammar of its format now.
REFUSED += [
    *(("dev", {"namespace": name}, "namespace", "is a namespace of the cluster's own")
      for name in ("kube-system", "kube-public", "kube-node-lease", "default")),
    ("prod", {"rdsInstanceClass": "db.t4g.medium; drop"}, "rdsInstanceClass", "is not an RDS instance class"),
    ("prod", {"rdsInstanceClass": "db..large"}, "rdsInstanceClass", "is not an RDS instance class"),
    ("prod", {"rdsEngineVersion": "\u0661\u0667.\u0666"}, "rdsEngineVersion", "is not a pinned PostgreSQL version"),
    ("prod", {"rdsKmsKeyArn": "arn:aws:::::"}, "rdsKmsKeyArn", "is not a KMS key ARN"),
    ("prod", {"rdsKmsKeyArn": "arn:aws:s3:::bucket"}, "rdsKmsKeyArn", "is not a KMS key ARN"),
    *(("prod", {"ssoEmailDomains": [domain]}, "ssoEmailDomains", "is not an e-mail domain")
      for domain in ("", " example.com\n", "Example.COM", "example..com", "@example.com")),
    ("prod", {"ssoIssuerUrl": "https://"}, "ssoIssuerUrl", "is not an https:// URL with a host"),
    ("prod", {"ssoIssuerUrl": "https://accounts.example.com/#frag"}, "ssoIssuerUrl", "is not an https:// URL"),
    ("prod", {"monitoringReleaseLabel": "release=a,b"}, "monitoringReleaseLabel", "is not a Kubernetes label"),
    ("prod", {"monitoringReleaseLabel": "release=-x"}, "monitoringReleaseLabel", "is not a Kubernetes label"),
    ("prod", {"ingressHost": ".".join(["a" * 63] * 5)}, "ingressHost", "is not a DNS name"),
    *(("dev", {"mlflowImage": image}, "mlflowImage", "is not an image reference")
      for image in ("Ghcr.io/MLflow/mlflow:v1-full", "ghcr.io/mlflow/mlflow:v3:x-full", "ghcr.io/mlflow/mlflow:-bad-full",
                    "ghcr.io/mlflow/mlflow:v1\n", "ghcr.io//mlflow:v1")),
    ("dev", {"serverTmpSize": "-1e3"}, "serverTmpSize", "it is negative"),
]

# A stack whose data is protected (prod) refuses each insecure choice unless the key named after its risk accepts it.
DEV_AS_PROD = {"dataProtection": True, "allowInClusterStoresInProd": True}
REFUSED += [
    ("dev", {"dataProtection": True}, "databaseMode", "set mlflow-platform:allowInClusterStoresInProd to true"),
    ("dev", {"dataProtection": True}, "artifactBackend", "MinIO here is one pod on one volume"),
    ("dev", DEV_AS_PROD, "ingressTlsClusterIssuer", "set mlflow-platform:allowPlaintextIngress to true"),
    ("prod", {"networkPolicies": False}, "networkPolicies", "set mlflow-platform:allowDisabledNetworkPolicies to true"),
    ("prod", {"allowUnverifiedDatabaseTls": False}, "databaseMode", "uses sslmode=require, which does not verify"),
    # No TLS is not unverified TLS: the opt-in for the one does not accept the other.
    *(("prod", {**EXTERNAL, "externalDatabaseSslMode": mode, "allowUnverifiedDatabaseTls": opt_in},
       "externalDatabaseSslMode", f"sslmode={mode} may connect without TLS")
      for mode in ("disable", "prefer") for opt_in in (False, True)),
    ("prod", {"albHttps": False}, "albHttps", "has no TLS"),
    ("prod", {"frontDoor": "ingress", "gatewayClassName": ""}, "ingressTlsClusterIssuer", "has no TLS"),
    # Authorization is never silently absent: without the auth app every caller is MLflow's admin.
    ("prod", {"authEnabled": False}, "authEnabled", "everyone who signs in, and every program and pod that reaches "
                                                    "the server is MLflow's admin"),
    ("prod", {**CLOUDFLARE_FRONT_DOOR, "authEnabled": False}, "authEnabled", "no one checks Cf-Access-Jwt-Assertion"),
    ("prod", {"irsaTrustedServiceAccounts": ["training:trainer"]}, "irsaTrustedServiceAccounts",
     "around MLflow's permissions and workspaces, which the auth app enforces only on requests to the server"),
]

# Accepted, and why.
ACCEPTED: list[tuple[str, dict[str, Any], str]] = [
    ("prod", {"authEnabled": False, "allowEveryUserAsAdmin": True}, "the opt-in named after the risk accepts it"),
    ("prod", {"irsaTrustedServiceAccounts": ["training:trainer"], "allowArtifactReadsAroundPermissions": True},
     "a reader role around the auth app, accepted by name"),
    ("dev", {"irsaTrustedServiceAccounts": ["training:trainer"]}, "a throwaway stack takes the reader role as it is"),
    ("dev", {"storageClass": "ebs.csi.aws.com"}, "a StorageClass name is a DNS subdomain: dots are allowed"),
    ("prod", {"frontDoor": "ingress", "gatewayClassName": "", "ingressTlsClusterIssuer": "letsencrypt.prod",
              "ingressClass": "nginx.internal"},
     "ClusterIssuer and IngressClass names are DNS subdomains too"),
    ("dev", {"serverExtraAllowedHosts": ["*.example.com", "mlflow.internal:8080"]},
     "a wildcard under a domain and a host:port still name who may be addressed"),
    ("dev", {"backupSchedule": "@daily"}, "a descriptor Kubernetes' cron parser takes"),
    ("dev", {"gcSchedule": "@weekly", "gcOlderThan": "1.5d"}, "decimals are MLflow's grammar"),
    ("dev", {"backupSchedule": "30 2 * * MON-FRI"}, "weekday names and ranges are standard cron"),
    ("dev", {"artifactPrefix": "team-a/mlflow/"}, "nested prefixes are plain keys"),
    ("dev", {"serverTmpSize": "1Mi"}, "the smallest body limit: 1m in nginx, not unlimited"),
    ("prod", {**EXTERNAL, "externalDatabasePort": "0"}, "0 is the declared default: the engine's standard port"),
    ("prod", {**EXTERNAL, "externalDatabaseHost": "10.0.12.7"}, "an IP address is a host"),
    ("prod", {**EXTERNAL, "externalDatabaseHost": "fd00::7"}, "so is an IPv6 address"),
    ("dev", {**DEV_AS_PROD, "allowPlaintextIngress": True, "allowEveryUserAsAdmin": True},
     "each risk accepted by its own key"),
    ("prod", {"networkPolicies": False, "allowDisabledNetworkPolicies": True}, "accepted by its own key"),
    ("dev", {}, "dev protects no data (dataProtection false): none of the prod refusals apply"),
    ("prod", {**EXTERNAL, "externalDatabaseSslMode": "verify-full", "databaseCaSecret": "db-ca",
              "allowUnverifiedDatabaseTls": False}, "verified TLS needs no opt-in"),
    # Kubernetes' quantity grammar has exponents and a sign (apimachinery resource/quantity.go).
    ("dev", {"serverTmpSize": "12e9", "serverMemoryLimit": "+4Gi", "serverCpuLimit": "1e0"},
     "quantities with an exponent or a plus sign are Kubernetes quantities"),
    ("dev", {"mlflowImage": "registry.example.com:5000/mirror/mlflow__full:v3.17.2-full"},
     "a registry with a port and '__' in a path component are the reference grammar's"),
    ("dev", {"mlflowImage": "ghcr.io/mlflow/mlflow:v3.17.2-full@sha256:" + "a" * 64}, "a tag with its digest"),
    ("prod", {"rdsKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:alias/mlflow"}, "RDS takes a key's alias ARN"),
    ("prod", {"rdsInstanceClass": "db.r6gd.16xlarge"}, "a class with attributes and a two-digit size"),
    ("prod", {"monitoringReleaseLabel": "prometheus.example.com/release=kube-prometheus-stack"},
     "a label key with a DNS prefix"),
]


def refusal(stack: str, overrides: dict[str, Any]) -> str:
    extra = PROD_SECRETS if stack == "prod" else {}
    with pytest.raises(ConfigError) as caught:
        run_program(stack, {**extra, **overrides}, preview=True, skip_config_validation=True)
    return str(caught.value)


def assert_refused(stack: str, overrides: dict[str, Any], key: str, expected: str) -> None:
    """Refused at preview, the message naming `key` and saying `expected`."""
    message = refusal(stack, overrides)
    assert f"mlflow-platform:{key}: " in message and expected in message, message


def test_the_corpus_covers_at_least_60_refusals() -> None:
    assert len(REFUSED) >= 60


@pytest.mark.parametrize(("stack", "overrides", "key", "expected"), REFUSED,
                         ids=[f"{key}={next(iter(o.values()))!r}"[:60] for _, o, key, _ in REFUSED])
def test_refused_at_preview_naming_the_key(stack: str, overrides: dict[str, Any], key: str, expected: str) -> None:
    assert_refused(stack, overrides, key, expected)


@pytest.mark.parametrize(("stack", "overrides", "why"), ACCEPTED, ids=[why[:40] for _, _, why in ACCEPTED])
def test_legitimate_values_are_accepted(stack: str, overrides: dict[str, Any], why: str) -> None:
    run_program(stack, {**(PROD_SECRETS if stack == "prod" else {}), **overrides}, preview=True,
                skip_config_validation=True)


def test_every_problem_is_reported_in_one_run_the_connection_budget_included() -> None:
    """The budget needs the server's and the database's keys to be valid; problems elsewhere do not hide it."""
    message = refusal("dev", {"artifactPrefix": "*/", "alertLatencyP95Seconds": "inf", "storageClass": "EBS_GP3",
                              "serverWorkers": 8, "postgresMaxConnections": 50})
    for key in ("artifactPrefix", "alertLatencyP95Seconds", "storageClass", "postgresMaxConnections"):
        assert f"mlflow-platform:{key}: " in message
