"""The policy pack's rules, called directly on what both stacks declare: both comply; each mutation is caught."""

import copy
import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from conftest import DEPLOYMENT, PROD_SECRETS
from harness import ProgramRun, Registration, run_program
from policy.rules import CONFIG_SCHEMAS, RESOURCE_RULES, StackResource, rule_arguments, s3_bucket_controls

BUCKET_TYPES = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
# What a provider computes, so a new stack's first preview cannot know it.
COMPUTED = {"id", "arn", "bucket", "bucketDomainName", "bucketRegionalDomainName", "hostedZoneId", "region"}


def stack_resources(run: ProgramRun, exclude: tuple[str, ...] = ()) -> list[StackResource]:
    return [StackResource(r.type, r.urn, r.plain_outputs, frozenset(r.dependencies))
            for r in run.resources if r.type not in exclude]


def first_preview(resources: list[StackResource]) -> list[StackResource]:
    """As pulumi_policy presents a new stack during `pulumi preview`: every computed value an unknown
    sentinel (proxy.UNKNOWN_STRING_VALUE), behind the proxy that raises when one is read."""
    def unknown_computed(resource: StackResource) -> dict[str, Any]:
        props = dict(resource.props)
        for key in COMPUTED & set(props):
            if resource.type == "aws:s3/bucket:Bucket" and key == "bucket":
                continue  # set from config: known
            props[key] = UNKNOWN_STRING_VALUE
        return props
    return [StackResource(r.type, r.urn, unknown_checking_proxy(unknown_computed(r)), r.dependencies)
            for r in resources if r.type.startswith("aws:")]


def violations(run: ProgramRun) -> list[str]:
    found = [f"{r.urn}: {m}" for r in run.resources for _, rule in RESOURCE_RULES.values()
             for m in rule(r.type, r.plain_inputs)]
    return found + s3_bucket_controls(stack_resources(run))


def test_both_stacks_comply(each_stack: ProgramRun) -> None:
    assert violations(each_stack) == []


def test_the_jobs_pod_and_teams_comply() -> None:
    """What the default stacks do not declare: the jobs Deployment, its Service and NetworkPolicy, teams."""
    run = run_program("prod", {**PROD_SECRETS, "serverJobExecution": True, "postgresMaxConnections": 2000,
                               "authWorkspaces": {"vision": {"members": ["group:vision"]}}})
    assert run.one(DEPLOYMENT, "mlflow-jobs")
    assert violations(run) == []


def mutated(resource: Registration, change: Any) -> dict[str, Any]:
    props = copy.deepcopy(resource.plain_inputs)
    change(props)
    return props


def rule(name: str) -> Any:
    return RESOURCE_RULES[name][1]


def first_container(props: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = props["spec"]["template"]["spec"]["containers"][0]
    return container


class TestS3:
    def test_public_access_block_switched_off(self, prod: ProgramRun) -> None:
        block = prod.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        props = mutated(block, lambda p: p.update(blockPublicPolicy=False, restrictPublicBuckets=False))
        assert rule("s3-public-access-block")(block.type, props) == [
            "S3 public access block must set blockPublicPolicy, restrictPublicBuckets to true"]

    def test_removing_the_public_access_block_is_caught_by_the_stack_rule(self, prod: ProgramRun) -> None:
        resources = stack_resources(prod, exclude=BUCKET_TYPES)
        assert s3_bucket_controls(resources) == ["S3 bucket acme-mlflow-artifacts-prod has no public access block"]

    def test_removing_the_tls_policy_is_caught(self, prod: ProgramRun) -> None:
        resources = stack_resources(prod, exclude=("aws:s3/bucketPolicy:BucketPolicy",))
        assert s3_bucket_controls(resources) == [
            "S3 bucket acme-mlflow-artifacts-prod has no policy denying requests without TLS"]

    def test_the_stack_rule_runs_on_a_new_stacks_first_preview(self, prod: ProgramRun) -> None:
        """Each companion's `bucket` is the bucket's id, unknown before the bucket exists: reading it
        would raise, and pulumi_policy reports "can't run policy" instead of checking anything."""
        preview = first_preview(stack_resources(prod))
        companion = next(r for r in preview if r.type == BUCKET_TYPES[0])
        with pytest.raises(UnknownValueError):
            companion.props["bucket"]
        assert s3_bucket_controls(preview) == []
        without_block = first_preview(stack_resources(prod, exclude=BUCKET_TYPES))
        assert s3_bucket_controls(without_block) == ["S3 bucket acme-mlflow-artifacts-prod has no public access block"]

    def test_the_tls_policy_is_known_at_first_preview(self, prod: ProgramRun) -> None:
        preview = first_preview(stack_resources(prod, exclude=("aws:s3/bucketVersioning:BucketVersioning",)))
        assert s3_bucket_controls(preview) == ["S3 bucket acme-mlflow-artifacts-prod has no versioning"]

    def test_encryption_other_than_kms(self, prod: ProgramRun) -> None:
        sse = prod.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        props = mutated(sse, lambda p: p["rules"][0]["applyServerSideEncryptionByDefault"].update(sseAlgorithm="AES256"))
        assert rule("s3-encryption")(sse.type, props) == ["S3 encryption must be SSE-KMS (aws:kms), not 'AES256'"]

    def test_versioning_suspended(self, prod: ProgramRun) -> None:
        versioning = prod.one("aws:s3/bucketVersioning:BucketVersioning")
        props = mutated(versioning, lambda p: p["versioningConfiguration"].update(status="Suspended"))
        assert rule("s3-versioning")(versioning.type, props) == ["S3 versioning must be Enabled, not 'Suspended'"]


def test_rds_backup_retention_is_configurable(prod: ProgramRun) -> None:
    """`--policy-pack-config`: {"rds-protection": {"minBackupRetentionDays": 30}} (prod keeps 14)."""
    rds = prod.one("aws:rds/instance:Instance")
    stricter = rule_arguments("rds-protection", {"minBackupRetentionDays": 30, "enforcementLevel": "mandatory"})
    assert stricter == {"min_backup_retention_days": 30}
    assert rule("rds-protection")(rds.type, rds.plain_inputs, **stricter) == [
        "RDS backup retention must be at least 30 days"]


def test_the_example_pack_config_names_real_policies_and_valid_settings() -> None:
    from harness import ROOT

    config = json.loads((ROOT / "policy" / "config.example.json").read_text())
    levels = {"advisory", "mandatory", "remediate", "disabled"}
    for name, value in config.items():
        assert name == "all" or name in RESOURCE_RULES or name == "s3-bucket-controls", name
        settings = value if isinstance(value, dict) else {"enforcementLevel": value}
        assert settings.pop("enforcementLevel") in levels
        schema = CONFIG_SCHEMAS.get(name, {})
        for key, setting in settings.items():
            assert key in schema, f"{name}.{key} is not in its config_schema"
            assert isinstance(setting, int) and schema[key]["minimum"] <= setting <= schema[key]["maximum"]


def test_rds_without_protection(prod: ProgramRun) -> None:
    instance = prod.one("aws:rds/instance:Instance")
    props = mutated(instance, lambda p: p.update(storageEncrypted=False, backupRetentionPeriod=1,
                                                  deletionProtection=False, publiclyAccessible=True))
    assert rule("rds-protection")(instance.type, props) == [
        "RDS storage must be encrypted", "RDS backup retention must be at least 7 days",
        "RDS deletion protection must be on", "RDS must not be publicly accessible"]


class TestKubernetes:
    @pytest.mark.parametrize(("image", "problem"), [
        ("ghcr.io/mlflow/mlflow", "has no tag"), ("ghcr.io/mlflow/mlflow:latest", "uses the latest tag")])
    def test_an_image_without_a_pinned_tag(self, dev: ProgramRun, image: str, problem: str) -> None:
        server = dev.one(DEPLOYMENT, "mlflow")
        props = mutated(server, lambda p: first_container(p).update(image=image))
        assert rule("kubernetes-containers")(server.type, props) == [
            f"container mlflow image {image!r} {problem}; pin a version or digest"]

    def test_root_privilege_escalation_and_no_limits(self, dev: ProgramRun) -> None:
        server = dev.one(DEPLOYMENT, "mlflow")

        def weaken(props: dict[str, Any]) -> None:
            props["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")
            first_container(props)["securityContext"] = {"allowPrivilegeEscalation": True}
            first_container(props)["resources"].pop("limits")

        assert rule("kubernetes-containers")(server.type, mutated(server, weaken)) == [
            "container mlflow must run as non-root (runAsNonRoot: true)",
            "container mlflow must set allowPrivilegeEscalation: false",
            "container mlflow must set cpu and memory limits"]

    def test_a_password_as_an_env_literal(self, dev: ProgramRun) -> None:
        server = dev.one(DEPLOYMENT, "mlflow")
        props = mutated(server, lambda p: first_container(p)["env"].append({"name": "DB_PASSWORD", "value": "hunter2"}))
        assert rule("kubernetes-no-secret-env-literals")(server.type, props) == [
            "container mlflow sets DB_PASSWORD as a literal; read it from a Secret (valueFrom)"]
        # Declared empty, a variable holds no secret (the server's _MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN).
        assert {"name": "_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN", "value": ""} in first_container(server.plain_inputs)["env"]
        assert rule("kubernetes-no-secret-env-literals")(server.type, server.plain_inputs) == []

    def test_a_load_balancer_service_needs_an_opt_in(self, dev: ProgramRun) -> None:
        service = dev.one("kubernetes:core/v1:Service", "mlflow")
        props = mutated(service, lambda p: p["spec"].update(type="LoadBalancer"))
        assert rule("kubernetes-no-load-balancer")(service.type, props) == [
            'Service of type LoadBalancer needs the annotation mlflow-platform/allow-load-balancer: "true" (use the Ingress)']
        props["metadata"]["annotations"] = {"mlflow-platform/allow-load-balancer": "true"}
        assert rule("kubernetes-no-load-balancer")(service.type, props) == []


def test_iam_wildcards(prod: ProgramRun) -> None:
    role_policy = prod.one("aws:iam/rolePolicy:RolePolicy")

    def widen(props: dict[str, Any]) -> None:
        document = json.loads(props["policy"])
        document["Statement"].append({"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"})
        props["policy"] = json.dumps(document)

    assert rule("iam-no-wildcards")(role_policy.type, mutated(role_policy, widen)) == [
        "IAM policy allows the wildcard action 's3:*'", "IAM policy allows the wildcard resource '*'"]


def test_the_pack_enforces_every_rule_and_is_never_imported_here() -> None:
    from harness import ROOT

    pack = (ROOT / "policy" / "__main__.py").read_text()
    assert "EnforcementLevel.MANDATORY" in pack and "RESOURCE_RULES.items()" in pack and "s3_bucket_controls" in pack
