"""The prod stack on EKS: S3 with IRSA, RDS, cluster facts from the cluster stack, nothing left to chance."""

import json
import os
import re
import subprocess
import sys
from typing import Any

import parliament
import pytest

from conftest import DEPLOYMENT, HPA, JOB, PDB, PROD_SECRETS, SECRET, SERVICE_ACCOUNT, container, env_of
from harness import CLUSTER_OUTPUTS, ROOT, ProgramRun, is_secret, run_program
from settings import ConfigError

BUCKET = "aws:s3/bucket:Bucket"
RDS = "aws:rds/instance:Instance"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ISSUER = CLUSTER_OUTPUTS["oidcIssuerUrl"].removeprefix("https://")
# Linting a trust policy as an identity policy yields exactly these, and they do not apply:
# trust policies never name a Resource, and parliament knows no EKS OIDC provider.
TRUST_POLICY_NOT_APPLICABLE = {"MALFORMED", "UNKNOWN_FEDERATION_SOURCE"}


def policy(resource: Any, key: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(resource.plain_inputs[key])
    return document


def lint(document: dict[str, Any]) -> set[str]:
    return {f.issue for f in parliament.analyze_policy_string(json.dumps(document)).findings}


def run_prod(overrides: dict[str, Any] | None = None, **kwargs: Any) -> ProgramRun:
    return run_program("prod", {**PROD_SECRETS, **(overrides or {})}, **kwargs)


def prod_error(overrides: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        run_prod(overrides, preview=True, **kwargs)
    return str(caught.value)


def test_prod_creates_no_minio_and_no_in_cluster_database(prod: ProgramRun) -> None:
    names = {r.name for r in prod.resources if r.type.startswith("kubernetes:")}
    assert not any("minio" in n or n.endswith("-data") or n == "mlflow-artifacts" for n in names), names
    assert not prod.of_type("kubernetes:apps/v1:StatefulSet")


def test_exports_the_outputs_other_stacks_read(prod: ProgramRun) -> None:
    outputs = prod.stack_outputs
    assert outputs["artifactBucket"] == "acme-mlflow-artifacts-prod"
    assert outputs["artifactBucketArn"] == "arn:aws:s3:::acme-mlflow-artifacts-prod"
    assert outputs["artifactsDestination"] == "s3://acme-mlflow-artifacts-prod/mlflow/"
    assert outputs["irsaRoleArn"] == prod.one(ROLE).outputs["arn"]
    assert outputs["databaseEndpoint"] == prod.one(RDS).outputs["endpoint"]
    assert {"trackingUri", "namespace", "serviceAccountName"} <= set(outputs)


class TestClusterInputs:
    def test_kubeconfig_comes_from_the_cluster_stack(self, prod: ProgramRun) -> None:
        provider = prod.one("pulumi:providers:kubernetes", "k8s")
        assert json.loads(provider.plain_inputs["kubeconfig"]) == CLUSTER_OUTPUTS["kubeconfig"]
        # The cluster stack here exports it plain (secretOutputNames is empty): this stack still keeps it secret.
        assert is_secret(provider.inputs["kubeconfig"])

    def test_explicit_config_works_without_a_cluster_stack(self) -> None:
        explicit = {"clusterStack": "", "oidcProviderArn": CLUSTER_OUTPUTS["oidcProviderArn"],
                    "oidcIssuerUrl": CLUSTER_OUTPUTS["oidcIssuerUrl"], "vpcId": "vpc-0123456789abcdef0",
                    "databaseCidr": "10.30.0.0/16",
                    "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
                    "nodeSecurityGroupId": "sg-0123456789abcdef0"}
        run = run_prod(explicit, stack_references={})
        assert run.one("aws:rds/subnetGroup:SubnetGroup").plain_inputs["subnetIds"] == ["subnet-0123456789abcdef0",
                                                                                     "subnet-0fedcba9876543210"]
        assert run.one("aws:ec2/securityGroup:SecurityGroup").plain_inputs["vpcId"] == "vpc-0123456789abcdef0"

    def test_missing_cluster_facts_are_named(self) -> None:
        message = prod_error({"clusterStack": ""}, stack_references={})
        for key in ("oidcProviderArn", "oidcIssuerUrl", "vpcId", "privateSubnetIds", "nodeSecurityGroupId"):
            assert f"mlflow-platform:{key}: is required for" in message
        assert "or set mlflow-platform:clusterStack" in message

    def test_a_cluster_stack_without_an_output_fails_naming_it(self) -> None:
        # In a subprocess: the failed run leaves Pulumi futures that would print their error at exit.
        script = ("from harness import CLUSTER_OUTPUTS, CLUSTER_STACK, run_program\n"
                  "outputs = {k: v for k, v in CLUSTER_OUTPUTS.items() if k != 'oidcProviderArn'}\n"
                  "run_program('prod', stack_references={CLUSTER_STACK: outputs})\n")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}, cwd=ROOT)
        assert result.returncode != 0
        assert "oidcProviderArn" in result.stderr

    def test_region_is_required_for_aws(self) -> None:
        assert "mlflow-platform:awsRegion: is required for databaseMode rds" in prod_error({"awsRegion": ""})


class TestS3Bucket:
    def child(self, prod: ProgramRun, suffix: str) -> dict[str, Any]:
        return prod.one(next(t for t in prod.types() if t.startswith("aws:s3/") and t.endswith(suffix))).plain_inputs

    def test_bucket_is_kept_and_never_force_destroyed(self, prod: ProgramRun) -> None:
        bucket = prod.one(BUCKET)
        assert bucket.plain_inputs["forceDestroy"] is False
        assert bucket.protect is True
        assert bucket.plain_inputs["tags"]["pulumi-stack"] == "prod"

    def test_public_access_is_blocked_all_four_ways(self, prod: ProgramRun) -> None:
        block = self.child(prod, ":BucketPublicAccessBlock")
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert all(block[flag] is True for flag in flags)

    def test_versioning_encryption_and_ownership(self, prod: ProgramRun) -> None:
        assert self.child(prod, ":BucketVersioning")["versioningConfiguration"] == {"status": "Enabled"}
        rule = self.child(prod, ":BucketServerSideEncryptionConfiguration")["rules"][0]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms"}
        assert rule["bucketKeyEnabled"] is True
        assert self.child(prod, ":BucketOwnershipControls")["rule"] == {"objectOwnership": "BucketOwnerEnforced"}

    def test_customer_kms_key_is_used_and_granted(self) -> None:
        key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        run = run_prod({"artifactKmsKeyArn": key})
        encryption = run.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        assert encryption.plain_inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == key
        statements = policy(run.one(ROLE_POLICY), "policy")["Statement"]
        assert {"Sid": "UseArtifactKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": [key]} in statements

    def test_bucket_policy_denies_every_request_without_tls(self, prod: ProgramRun) -> None:
        (statement,) = policy(prod.one("aws:s3/bucketPolicy:BucketPolicy"), "policy")["Statement"]
        arn = "arn:aws:s3:::acme-mlflow-artifacts-prod"
        assert statement == {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                             "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}

    def test_lifecycle_expires_old_versions_and_aborts_cut_uploads(self, prod: ProgramRun) -> None:
        rules = {r["id"]: r for r in self.child(prod, ":BucketLifecycleConfiguration")["rules"]}
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
        assert all(r["status"] == "Enabled" for r in rules.values())


class TestIrsa:
    def test_trust_policy_admits_only_the_servers_service_account_token_for_sts(self, prod: ProgramRun) -> None:
        (statement,) = policy(prod.one(ROLE), "assumeRolePolicy")["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Federated": CLUSTER_OUTPUTS["oidcProviderArn"]}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {"StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:mlflow:mlflow",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }}

    def test_the_trusted_service_account_is_the_one_the_server_runs_as(self, prod: ProgramRun) -> None:
        account = prod.one(SERVICE_ACCOUNT, "mlflow").plain_inputs["metadata"]
        subject = f"system:serviceaccount:{account['namespace']}:{account['name']}"
        assert subject in json.dumps(policy(prod.one(ROLE), "assumeRolePolicy"))
        assert account["annotations"] == {"eks.amazonaws.com/role-arn": prod.one(ROLE).outputs["arn"]}

    def test_permissions_are_the_artifact_prefix_and_nothing_else(self, prod: ProgramRun) -> None:
        statements = {s["Sid"]: s for s in policy(prod.one(ROLE_POLICY), "policy")["Statement"]}
        bucket = "arn:aws:s3:::acme-mlflow-artifacts-prod"
        assert statements.keys() == {"ListArtifacts", "LocateBucketAndUploads", "ReadWriteArtifacts"}
        assert statements["ListArtifacts"] == {"Sid": "ListArtifacts", "Effect": "Allow", "Action": ["s3:ListBucket"],
                                               "Resource": [bucket],
                                               "Condition": {"StringLike": {"s3:prefix": ["mlflow/*"]}}}
        assert statements["LocateBucketAndUploads"]["Action"] == ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
        assert statements["ReadWriteArtifacts"]["Resource"] == [f"{bucket}/mlflow/*"]
        assert set(statements["ReadWriteArtifacts"]["Action"]) == {
            "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
        assert all(s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in statements.values())

    def test_every_policy_passes_parliament(self, prod: ProgramRun) -> None:
        assert lint(policy(prod.one(ROLE_POLICY), "policy")) == set()
        assert lint(policy(prod.one("aws:s3/bucketPolicy:BucketPolicy"), "policy")) == set()
        assert lint(policy(prod.one(ROLE), "assumeRolePolicy")) <= TRUST_POLICY_NOT_APPLICABLE

    def test_the_read_only_role_for_trusted_jobs_passes_parliament(self) -> None:
        run = run_prod({"irsaTrustedServiceAccounts": ["training:trainer"], "allowArtifactReadsAroundPermissions": True,
                        "artifactKmsKeyArn":
                        "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0000-0000-0000-000000000000"})
        assert lint(policy(run.one(ROLE_POLICY, "mlflow-artifacts-irsa-reader-s3"), "policy")) == set()
        assert lint(policy(run.one(ROLE, "mlflow-artifacts-irsa-reader"), "assumeRolePolicy")) <= \
            TRUST_POLICY_NOT_APPLICABLE

    def test_parliament_would_catch_a_condition_on_the_wrong_action(self) -> None:
        """Guard the guard: this is the mistake parliament found in an earlier version of the policy."""
        bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetBucketLocation"],
               "Resource": ["arn:aws:s3:::b"], "Condition": {"StringLike": {"s3:prefix": ["mlflow/*"]}}}]}
        assert "UNKNOWN_CONDITION_FOR_ACTION" in lint(bad)

    def test_server_gets_no_static_keys_and_no_s3_endpoint(self, prod: ProgramRun) -> None:
        env = env_of(container(prod.one(DEPLOYMENT, "mlflow"), "mlflow"))
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"} & env.keys()
        assert env["AWS_REGION"]["value"] == "us-east-1"


class TestRds:
    def test_private_subnets_and_a_security_group_open_only_to_the_cluster(self, prod: ProgramRun) -> None:
        subnets = prod.one("aws:rds/subnetGroup:SubnetGroup").plain_inputs
        assert subnets["subnetIds"] == CLUSTER_OUTPUTS["privateSubnetIds"]
        group = prod.one("aws:ec2/securityGroup:SecurityGroup")
        assert group.plain_inputs["vpcId"] == CLUSTER_OUTPUTS["vpcId"]
        assert "ingress" not in group.plain_inputs
        (rule,) = prod.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        assert rule.plain_inputs["referencedSecurityGroupId"] == CLUSTER_OUTPUTS["nodeSecurityGroupId"]
        ports = (rule.plain_inputs["fromPort"], rule.plain_inputs["toPort"], rule.plain_inputs["ipProtocol"])
        assert ports == (5432, 5432, "tcp")
        assert "cidrIpv4" not in rule.plain_inputs

    def test_parameter_group_forces_tls_and_sets_the_budgeted_max_connections(self, prod: ProgramRun) -> None:
        group = prod.one("aws:rds/parameterGroup:ParameterGroup").plain_inputs
        assert group["family"] == "postgres17"
        parameters = {p["name"]: p["value"] for p in group["parameters"]}
        assert parameters == {"rds.force_ssl": "1", "max_connections": "1500",  # Pulumi.prod.yaml, with the jobs pod
                              # Tuned for MLflow (mlflow_postgres/tuning.py); RDS's defaults scale the caches already.
                              "work_mem": "16384", "maintenance_work_mem": "{DBInstanceClassMemory/16384}",
                              "random_page_cost": "1.1", "effective_io_concurrency": "200",
                              "autovacuum_vacuum_scale_factor": "0.05", "autovacuum_analyze_scale_factor": "0.02",
                              "autovacuum_vacuum_insert_scale_factor": "0.05"}
        # A static parameter waits for a reboot (RDS refuses "immediate" for it); the others apply at once.
        methods = {p["name"]: p["applyMethod"] for p in group["parameters"]}
        assert {name for name, method in methods.items() if method == "pending-reboot"} == {"rds.force_ssl",
                                                                                            "max_connections"}

    def test_instance_is_pinned_encrypted_backed_up_and_protected(self, prod: ProgramRun) -> None:
        instance = prod.one(RDS)
        spec = instance.plain_inputs
        assert (spec["engine"], spec["engineVersion"], spec["autoMinorVersionUpgrade"]) == ("postgres", "17.6", False)
        assert spec["storageEncrypted"] is True and spec["deletionProtection"] is True
        assert spec["backupRetentionPeriod"] == 14 and spec["multiAz"] is True  # Pulumi.prod.yaml
        # Per stack: two stacks of the project in one account and region would otherwise collide on deletion.
        assert spec["skipFinalSnapshot"] is False
        assert spec["finalSnapshotIdentifier"] == "mlflow-postgres-mlflow-platform-prod-final"
        assert spec["publiclyAccessible"] is False
        assert spec["performanceInsightsEnabled"] is True and spec["performanceInsightsRetentionPeriod"] == 7
        assert spec["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
        assert instance.protect is True
        assert is_secret(instance.inputs["password"])

    @pytest.mark.parametrize(("stack", "expected"), [
        ("prod", "mlflow-postgres-mlflow-platform-prod-final"),
        ("Team_A.prod", "mlflow-postgres-mlflow-platform-team-a-prod-final"),
        ("1st", "mlflow-postgres-mlflow-platform-1st-final"),
    ])
    def test_the_final_snapshot_name_is_a_valid_rds_identifier(self, stack: str, expected: str) -> None:
        from mlflow_platform.mlflow_postgres.rds import final_snapshot_name

        name = final_snapshot_name("mlflow-postgres", "mlflow-platform", stack)
        assert name == expected
        assert re.fullmatch(r"[a-z](-?[a-z0-9])*", name) and len(name) <= 255

    def test_every_uri_requires_tls(self, prod: ProgramRun) -> None:
        """The server's (the app role's) and the migration's (the master user's, which owns the schema)."""
        address = prod.one(RDS).outputs["address"]
        roles = prod.one(SECRET, "mlflow-postgres-roles").plain_inputs["stringData"]
        for uri, user, database in ((prod.one(SECRET, "mlflow-postgres-uri").plain_inputs["stringData"]["uri"],
                                     "mlflow_app", "mlflow"),
                                    (roles["owner-uri"], "mlflow", "mlflow"),
                                    (roles["owner-auth-uri"], "mlflow", "mlflow_auth")):
            assert uri.startswith(f"postgresql+psycopg2://{user}:")
            assert uri.endswith(f"@{address}:5432/{database}?sslmode=require")
        # RDS has no exporter sidecar or pg_dump CronJob: the app role is the only one.
        assert set(roles) == {"owner-uri", "owner-auth-uri", "app-password"}

    @pytest.mark.parametrize(("key", "value", "message"), [
        ("rdsDeletionProtection", False, "must be true: without it one `pulumi destroy` deletes the database"),
        ("rdsStorageEncrypted", False, "must be true: the database holds every experiment's metadata"),
        ("rdsBackupRetentionDays", 3, "must be at least 7"),
    ])
    def test_unsafe_settings_are_refused_while_data_is_protected(self, key: str, value: Any, message: str) -> None:
        assert f"mlflow-platform:{key}: {message}" in prod_error({key: value})
        run_prod({key: value, "dataProtection": False})  # an explicit throwaway stack may

    def test_rds_reserves_two_more_connections(self) -> None:
        # 4 pods x (2 workers x 2 engines x 41 + 2 wrapper) + 658 jobs pod + 1 = 1323 connections; 1327 leaves 1322.
        assert "= 1323 connections, but max_connections 1327 leaves 1322" in prod_error({"postgresMaxConnections": 1327})
        run_program("prod", {**PROD_SECRETS, "postgresMaxConnections": 1328}, preview=True)


class TestServerSizing:
    def test_two_replicas_spread_with_pdb_and_hpa(self, prod: ProgramRun) -> None:
        assert prod.one(HPA, "mlflow").plain_inputs["spec"]["minReplicas"] >= 2
        assert prod.one(PDB, "mlflow").plain_inputs["spec"]["maxUnavailable"] == 1


class TestExternalDatabase:
    OVERRIDES = {"databaseMode": "external", "externalDatabaseHost": "pg.internal.example.com",
                 "externalDatabasePassword": {"secure": "v1:encrypted"}}

    def test_creates_no_database_resources_and_points_the_uri_at_the_server(self) -> None:
        run = run_prod(self.OVERRIDES)
        assert not [t for t in run.types() if t.startswith("aws:rds") or t.startswith("aws:ec2")]
        uri = run.one(SECRET, "mlflow-postgres-uri")
        assert is_secret(uri.inputs["stringData"])
        assert uri.plain_inputs["stringData"]["uri"] == (
            "postgresql+psycopg2://mlflow:placeholder-for-mlflow-platform%3AexternalDatabasePassword"
            "@pg.internal.example.com:5432/mlflow?sslmode=require")

    def test_a_password_with_uri_metacharacters_stays_one_password(self) -> None:
        """Built with SQLAlchemy's URL.create, which escapes it; formatted into the string it would end the user
        part at '@', the password at ':', the path at '/' or '?', and the URI at '#'."""
        from sqlalchemy.engine import make_url

        from mlflow_platform.mlflow_postgres.endpoint import database_uri

        parsed = make_url(database_uri("mlflow", "p@ss:w/rd?#1", "pg.internal.example.com", 5432, "mlflow",
                                       {"sslmode": "verify-full"}))
        assert (parsed.password, parsed.host, parsed.database, dict(parsed.query)) == (
            "p@ss:w/rd?#1", "pg.internal.example.com", "mlflow", {"sslmode": "verify-full"})

    def test_a_plain_text_password_is_refused(self) -> None:
        message = prod_error({**self.OVERRIDES, "externalDatabasePassword": "hunter2"})
        assert "mlflow-platform:externalDatabasePassword: must be set as a secret" in message

    def test_host_and_password_are_required(self) -> None:
        message = prod_error({"databaseMode": "external"})
        assert "mlflow-platform:externalDatabaseHost: is required" in message
        assert "mlflow-platform:externalDatabasePassword: is required" in message


def test_s3_bucket_name_must_be_chosen() -> None:
    assert "mlflow-platform:artifactBucket: S3 bucket names are global" in prod_error({"artifactBucket": "mlflow-artifacts"})


class TestVerifiedDatabaseTls:
    """databaseCaSecret: the database server's CA, mounted where the URI's sslrootcert points, in every pod that
    connects; with it RDS is reached with verify-full and the opt-in for unverified TLS is not needed."""

    CA = {"databaseCaSecret": "rds-ca", "allowUnverifiedDatabaseTls": False}

    def test_rds_is_verified_against_the_given_bundle(self) -> None:
        from sqlalchemy.engine import make_url

        run = run_prod(self.CA)
        uri = make_url(run.one(SECRET, "mlflow-postgres-uri").plain_inputs["stringData"]["uri"])
        assert dict(uri.query) == {"sslmode": "verify-full",
                                   "sslrootcert": "/etc/mlflow-platform/database-ca/ca.crt"}
        volume = {"name": "database-ca", "secret": {"secretName": "rds-ca",
                                                    "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
        mount = {"name": "database-ca", "mountPath": "/etc/mlflow-platform/database-ca", "readOnly": True}
        for workload in (run.one(DEPLOYMENT, "mlflow"), run.one(JOB, "mlflow-migrate")):
            pod = workload.plain_inputs["spec"]["template"]["spec"]
            assert volume in pod["volumes"]
            # The migration's tracking and auth steps, the server (its metrics sidecar reads no database).
            for each in [*pod.get("initContainers", []), *pod["containers"]]:
                if each["name"] != "metrics":
                    assert mount in each["volumeMounts"], (workload.name, each["name"])

    def test_without_a_bundle_rds_needs_the_opt_in(self) -> None:
        assert "allowUnverifiedDatabaseTls to true" in prod_error({"allowUnverifiedDatabaseTls": False})

