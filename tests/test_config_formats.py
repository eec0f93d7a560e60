"""Every config key has a declared format (settings/formats.py), and every string key refuses hostile values by it.

The hostile values are generated from a valid example of each key, so a key added to Pulumi.yaml without a rule and
an example fails here, and a rule that lets a kind of value through must say why in ACCEPTED. Each kind of value is
sent to every string key at once, through the program as the CLI runs it: the program reports every problem in one
run, so each key's own refusal is found in the one message.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from harness import ROOT, run_program
from settings import ConfigError
from settings.formats import FORMATS

DECLARED: dict[str, dict[str, Any]] = {key: value for key, value in
                                       yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"].items()
                                       if ":" not in key}
STRING_KEYS = sorted(key for key, declared in DECLARED.items()
                     if declared["type"] == "string" or declared.get("items", {}).get("type") == "string")

# A valid value of each string key (for a list, of its items), other than its default.
EXAMPLES: dict[str, str] = {
    "kubeContext": "kind-mlflow",
    "namespace": "mlflow-team",
    "storageClass": "gp3",
    "priorityClassName": "platform-high",
    "imagePullSecrets": "registry-credentials",
    "awsRegion": "eu-central-1",
    "clusterStack": "acme/eks-cluster/prod",
    "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/ABCDEF0123",
    "oidcIssuerUrl": "https://oidc.eks.eu-central-1.amazonaws.com/id/ABCDEF0123",
    "vpcId": "vpc-0a1b2c3d4e5f67890",
    "privateSubnetIds": "subnet-0a1b2c3d4e5f67890",
    "nodeSecurityGroupId": "sg-0a1b2c3d4e5f67890",
    "databaseMode": "rds",
    "postgresImage": "docker.io/library/postgres:17.7-bookworm",
    "postgresExporterImage": "quay.io/prometheuscommunity/postgres-exporter:v0.18.1",
    "databasePoolerImage": "ghcr.io/cloudnative-pg/pgbouncer:1.25.2-trixie",
    "postgresStorageSize": "20Gi",
    "sqliteStorageSize": "2Gi",
    "rdsEngineVersion": "16.4",
    "rdsInstanceClass": "db.m7g.large",
    "rdsKmsKeyArn": "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "externalDatabaseEngine": "mysql",
    "externalDatabaseHost": "pg.internal.example.com",
    "externalDatabaseUriSecret": "mlflow-database-uri",
    "externalDatabaseSslMode": "verify-full",
    "postgresCpuRequest": "500m",
    "postgresCpuLimit": "2",
    "postgresMemoryRequest": "1Gi",
    "postgresMemoryLimit": "2Gi",
    "backupSchedule": "30 2 * * *",
    "gcSchedule": "0 4 * * 0",
    "gcOlderThan": "7d12h",
    "artifactBackend": "s3",
    "artifactBucket": "acme-mlflow-artifacts",
    "artifactPrefix": "team-a/mlflow/",
    "artifactKmsKeyArn": "arn:aws:kms:eu-central-1:123456789012:alias/mlflow",
    "irsaTrustedServiceAccounts": "training:trainer",
    "artifactEndpointUrl": "https://objects.example.com:9000",
    "artifactCredentialsSecret": "object-store-keys",
    "artifactEndpointRegion": "auto",
    "artifactEndpointAddressingStyle": "virtual",
    "artifactEndpointCidr": "10.40.0.0/24",
    "minioImage": "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z",
    "minioClientImage": "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z",
    "minioStorageSize": "20Gi",
    "mlflowImage": "ghcr.io/mlflow/mlflow:v3.17.2-full",
    "serverCpuRequest": "1",
    "serverCpuLimit": "4",
    "serverMemoryRequest": "2Gi",
    "serverMemoryLimit": "4Gi",
    "serverTmpSize": "8Gi",
    "serverExtraAllowedHosts": "mlflow.internal.example.com",
    "serverSpreadTopologyKeys": "topology.kubernetes.io/zone",
    "serverSpreadWhenUnsatisfiable": "DoNotSchedule",
    "serverStaticPrefix": "/mlflow",
    "serverServiceType": "NodePort",
    "serverExtraArgs": "--x-frame-options=DENY",
    "ingressHost": "mlflow.example.com",
    "frontDoor": "ingress",
    "gatewayClassName": "nginx",
    "gatewayController": "aws-alb",
    "gatewayName": "shared-gateway",
    "gatewayNamespace": "gateways",
    "gatewaySectionName": "https",
    "albScheme": "internal",
    "albSubnetIds": "subnet-0a1b2c3d4e5f67890",
    "albCertificateArn": "arn:aws:acm:eu-central-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab",
    "cloudflareTeamDomain": "acme.cloudflareaccess.com",
    "cloudflareAudienceTag": "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2",
    "cloudflaredImage": "docker.io/cloudflare/cloudflared:2025.4.0",
    "ingressClass": "nginx",
    "ingressTlsClusterIssuer": "letsencrypt",
    "ingressTlsSecret": "mlflow-tls",
    "ssoIssuerUrl": "https://accounts.example.com",
    "ssoClientId": "0oa1b2c3d4e5f6g7h8i9",
    "ssoEmailDomains": "example.com",
    "ssoAllowedGroups": "data-science",
    "ssoAllowedPrograms": "ci-bot@example.com",
    "oauth2ProxyImage": "quay.io/oauth2-proxy/oauth2-proxy:v7.9.0",
    "authDefaultPermission": "EDIT",
    "authAdminUsers": "alice@example.com",
    "authAdminGroups": "mlflow-admins",
    "authAdminIssuers": "https://accounts.example.com",
    "authTrustedIssuers": "https://token.actions.githubusercontent.com=mlflow-ci",
    "authServiceAccountAudience": "mlflow",
    "authServiceAccountNamespaces": "training",
    "monitoringReleaseLabel": "release=prometheus",
    "monitoringRunbookUrl": "https://git.example.com/mlflow-platform/docs/monitoring.md",
    "alertLatencyP95Seconds": "1.5",
    "alertErrorRatio": "0.05",
    "ingressControllerNamespace": "ingress",
    "monitoringNamespace": "observability",
    "networkClientNamespaces": "training",
    "databaseCaSecret": "database-ca",
    "databaseCidr": "10.30.0.0/16",
}


def _digits_of_another_script(value: str) -> str:
    """Arabic-Indic digits for ASCII ones (str.isdigit and float() take them)."""
    swapped = value.translate({ord(str(d)): chr(0x0660 + d) for d in range(10)})
    return swapped if swapped != value else value + "\u0663"


# Each kind of hostile value, made from a key's valid example.
HOSTILE: dict[str, Callable[[str], str]] = {
    "empty": lambda example: "",
    "only whitespace": lambda example: " \t",
    "leading space": lambda example: f" {example}",
    "trailing newline": lambda example: f"{example}\n",
    "NUL": lambda example: f"{example}\x00",
    "terminal escape": lambda example: f"{example[:1]}\x1b[31m{example[1:]}",
    "bidi override": lambda example: f"\u202e{example}",
    "zero-width space": lambda example: f"{example[:1]}\u200b{example[1:]}",
    "line separator": lambda example: f"{example[:1]}\u2028{example[1:]}",
    "digits of another script": _digits_of_another_script,
    "accented letter": lambda example: f"{example}\u00e9",
    "Cyrillic look-alike": lambda example: example.replace("a", "\u0430", 1) if "a" in example else f"{example}\u0430",
    "shell ;": lambda example: f"{example};id",
    "shell $()": lambda example: f"{example}$(id)",
    "shell backquote": lambda example: f"{example}`id`",
    "shell |": lambda example: f"{example}|id",
    "URL query and fragment": lambda example: f"{example}?x=1#y",
    "URL userinfo": lambda example: f"{example}@evil.example",
    "quotes": lambda example: f"{example}'\"",
    "over-long": lambda example: example + "x" * 5000,
    "upper case": lambda example: example.upper(),
}

_UNSET = "empty is unset: the key's default in Pulumi.yaml is empty"
_FREE_TEXT_METACHARACTERS = ("shell ;", "shell $()", "shell backquote", "shell |", "URL query and fragment",
                             "URL userinfo", "quotes")
_PATHS = "an https URL's path may hold these characters (RFC 3986 pchar); the URL is never given to a shell"

# (key, kind): why the key's rule accepts that value. Every entry is checked against the rule too.
ACCEPTED: dict[tuple[str, str], str] = {
    **{(key, "empty"): _UNSET for key in STRING_KEYS
       if DECLARED[key]["type"] == "string" and DECLARED[key].get("default") == ""},
    **{("kubeContext", kind): "client-go gives context names no grammar; the name is only looked up in the "
                              "kubeconfig, never given to a shell" for kind in (*_FREE_TEXT_METACHARACTERS, "upper case")},
    **{("ssoClientId", kind): "an OAuth client_id is any VSCHAR (RFC 6749 A.1); oauth2-proxy takes it as one argument, "
                              "without a shell" for kind in (*_FREE_TEXT_METACHARACTERS, "upper case")},
    **{("authServiceAccountAudience", kind): "an audience is any StringOrURI (RFC 7519) without commas or quotes; it "
                                             "is compared, never run"
       for kind in (*_FREE_TEXT_METACHARACTERS[:-1], "upper case")},
    **{(key, kind): "a group is any name the identity provider gives (any script, any case: 'Data Science'); "
                    "only commas and quotes, which oauth2-proxy's CSV would split, are refused"
       for key in ("ssoAllowedGroups", "authAdminGroups")
       for kind in ("accented letter", "Cyrillic look-alike", "digits of another script", "shell ;", "shell $()",
                    "shell backquote", "shell |", "URL query and fragment", "URL userinfo", "upper case")},
    **{(key, kind): "an e-mail or sub is any printable ASCII without spaces, commas or quotes (OpenID Connect Core "
                    "2); oauth2-proxy compares it, nothing runs it"
       for key in ("ssoAllowedPrograms", "authAdminUsers")
       for kind in ("shell ;", "shell $()", "shell backquote", "shell |", "URL query and fragment", "URL userinfo",
                    "upper case")},
    **{("serverExtraArgs", kind): "a flag's value is free text: the container's args are given to MLflow as they "
                                  "are, without a shell (exec form)"
       for kind in ("shell ;", "shell backquote", "shell |", "URL query and fragment", "URL userinfo", "quotes",
                    "accented letter", "digits of another script")},
    **{("authTrustedIssuers", kind): "the audience after '=' is any StringOrURI (RFC 7519) without commas or quotes; "
                                     "it is compared, never run" for kind in ("shell ;", "shell $()", "shell backquote",
                                                                              "shell |", "URL query and fragment",
                                                                              "URL userinfo")},
    **{(key, kind): _PATHS for key in ("oidcIssuerUrl", "monitoringRunbookUrl")
       for kind in ("shell ;", "shell $()", "URL userinfo")},
    **{(key, "upper case"): "a URL's scheme and a host name are read without case (RFC 3986 3.1, 3.2.2)"
       for key in ("artifactEndpointUrl", "externalDatabaseHost", "serverExtraAllowedHosts")},
    **{(key, "upper case"): "upper case makes another valid value, not a malformed one: S3 keys, URL paths and label "
                            "values are case-sensitive"
       for key in ("artifactPrefix", "serverStaticPrefix", "monitoringReleaseLabel")},
    ("clusterStack", "upper case"): "Pulumi's organization, project and stack names take upper-case letters "
                                    "(pkg/backend/httpstate/backend.go)",
}


def _hostile(key: str, kind: str) -> str:
    return HOSTILE[kind](EXAMPLES[key])


def _config_value(key: str, value: str) -> Any:
    return [value] if DECLARED[key]["type"] == "array" else value


class TestTheTable:
    def test_every_declared_key_has_a_format_and_no_other(self) -> None:
        assert sorted(FORMATS) == sorted(DECLARED)

    def test_each_format_has_the_type_pulumi_yaml_declares(self) -> None:
        wrong = {key: (rule.type, DECLARED[key]["type"]) for key, rule in FORMATS.items()
                 if rule.type != DECLARED[key]["type"]}
        assert not wrong, wrong
        # A list of strings has an item rule; a list of objects is read as JSON objects.
        items = {key: DECLARED[key]["items"]["type"] for key in DECLARED if DECLARED[key]["type"] == "array"}
        assert {key for key, kind in items.items() if kind == "string"} == {
            key for key in items if FORMATS[key].check is not None}

    def test_every_string_key_has_a_rule_and_an_example_it_accepts(self) -> None:
        assert sorted(EXAMPLES) == STRING_KEYS
        refused = {key: FORMATS[key].problem(value) for key, value in EXAMPLES.items() if FORMATS[key].problem(value)}
        assert not refused, refused

    def test_every_example_differs_from_the_default(self) -> None:
        assert not [key for key, value in EXAMPLES.items() if _config_value(key, value) == DECLARED[key].get("default")]

    def test_every_default_passes_its_rule(self) -> None:
        problems = {}
        for key, declared in DECLARED.items():
            default = declared.get("default")
            values = default if isinstance(default, list) and FORMATS[key].check else [default]
            for value in values:
                if isinstance(value, str) and value and (problem := FORMATS[key].problem(value)):
                    problems[key] = problem
        assert not problems, problems

    def test_accepted_values_are_accepted_by_the_rule(self) -> None:
        """The reviewed list stays true: an entry whose value a rule now refuses is removed."""
        refused = {(key, kind): FORMATS[key].problem(_hostile(key, kind)) for key, kind in ACCEPTED
                   if kind != "empty" and FORMATS[key].problem(_hostile(key, kind))}
        assert not refused, refused


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_string_key_refuses_the_hostile_value_naming_the_key(kind: str) -> None:
    overrides = {key: _config_value(key, _hostile(key, kind)) for key in STRING_KEYS if (key, kind) not in ACCEPTED}
    with pytest.raises(ConfigError) as caught:
        run_program("dev", overrides, preview=True, skip_config_validation=True)
    message = str(caught.value)
    unexplained, unreported = [], []
    for key in STRING_KEYS:
        value = _hostile(key, kind)
        if value == EXAMPLES[key] or (key, kind) in ACCEPTED:
            continue
        problem = FORMATS[key].problem(value)
        if problem is None:
            unexplained.append(f"{key}={json.dumps(value)[:60]}")
        elif f"mlflow-platform:{key}: {problem}" not in message:
            unreported.append(key)
    assert not unexplained, f"accepted without a reason in ACCEPTED: {unexplained}"
    assert not unreported, f"refused by the rule but not reported by the program: {unreported}\n{message}"
