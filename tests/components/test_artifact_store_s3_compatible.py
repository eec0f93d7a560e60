"""ArtifactBucket (s3-compatible): a store the team already runs (Ceph RGW, Cloudflare R2, their own MinIO), with
static keys in a Secret of theirs. The program creates nothing in the store, never holds the keys, reaches the store
only where its NetworkPolicy says, and exports the policy the team must attach to the keys' user."""

import json
from typing import Any

import kubernetes_validate
import pytest
from test_hostile_config import assert_refused
from test_schemas import KUBERNETES_VERSIONS, as_manifest

from conftest import DEPLOYMENT, PROD_SECRETS, component, container, env_of
from harness import ProgramRun, run_program, walk_strings
from mlflow_platform.artifact_bucket import ArtifactBucketArgs
from mlflow_platform.artifact_bucket.iam_policies import mlflow_bucket_policy, mlflow_bucket_policy_json

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# The store as a team states it: its endpoint (not on 443), its Secret, its network.
STORE: dict[str, Any] = {
    "artifactBackend": "s3-compatible", "artifactBucket": "team-ml-artifacts", "artifactPrefix": "mlflow/",
    "artifactEndpointUrl": "https://rgw.storage.example.com:8443", "artifactCredentialsSecret": "rgw-mlflow-keys",
    "artifactEndpointCidr": "10.20.0.0/24",
}
# The dev stack's database backups go to MinIO's bucket: with another store they are refused (tested below).
DEV_STORE = {**STORE, "backupsEnabled": False}
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture(scope="module")
def dev_store() -> ProgramRun:
    return run_program("dev", {**DEV_STORE, "serverJobExecution": True, "postgresMaxConnections": 1100})


@pytest.fixture(scope="module")
def prod_store() -> ProgramRun:
    return run_program("prod", {**PROD_SECRETS, **STORE})


def mlflow_containers(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """The containers that reach the store: the server's, and the jobs pod's when there is one."""
    found = {"server": container(run.one(DEPLOYMENT, "mlflow"), "mlflow")}
    if any(d.name == "mlflow-jobs" for d in run.of_type(DEPLOYMENT)):
        found["jobs"] = container(run.one(DEPLOYMENT, "mlflow-jobs"))
    return found


def test_the_program_creates_nothing_for_the_store(dev_store: ProgramRun, prod_store: ProgramRun) -> None:
    """No MinIO, no setup Job, no generated keys, no Secret of its own, no AWS resource, no AWS provider (prod's
    RDS keeps its own)."""
    for run in (dev_store, prod_store):
        assert run.children_of(component(run, "ArtifactBucket")) == []
        assert not [r for r in run.resources if r.type.startswith("aws:s3") or r.type.startswith("aws:iam")]
        assert not [r for r in run.kubernetes_objects() if "minio" in json.dumps(r.plain_inputs.get("metadata", {}))]
        assert not [r for r in run.kubernetes_objects() if r.k8s_name == STORE["artifactCredentialsSecret"]]
    assert not [r for r in dev_store.resources if r.type.startswith("aws:") or r.type == "pulumi:providers:aws"]


def test_the_server_and_jobs_pod_read_the_keys_from_the_teams_secret(dev_store: ProgramRun) -> None:
    containers = mlflow_containers(dev_store)
    assert set(containers) == {"server", "jobs"}
    for name, spec in containers.items():
        env = env_of(spec)
        for key in KEYS:
            assert env[key] == {"name": key, "valueFrom": {"secretKeyRef": {"name": "rgw-mlflow-keys", "key": key}}}, name
        # mlflow/store/artifact/s3_artifact_repo.py _get_s3_client: the endpoint and addressing style MLflow reads.
        assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "https://rgw.storage.example.com:8443"
        assert env["MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE"]["value"] == "path"
        assert env["AWS_DEFAULT_REGION"]["value"] == env["AWS_REGION"]["value"] == "us-east-1"
        # The endpoint's certificate is always verified.
        assert "MLFLOW_S3_IGNORE_TLS" not in env
        assert spec["args"][spec["args"].index("--artifacts-destination") + 1] == "s3://team-ml-artifacts/mlflow/"


def test_the_keys_appear_nowhere_as_literals(dev_store: ProgramRun) -> None:
    """The program never has them: no env value, no Secret data, no output names them as a value."""
    for run_container in mlflow_containers(dev_store).values():
        assert all("value" not in e for e in run_container["env"] if e["name"] in KEYS)
    for obj in dev_store.kubernetes_objects():
        data = {**obj.plain_inputs.get("stringData", {}), **obj.plain_inputs.get("data", {})}
        assert not set(KEYS) & set(data), obj.name


def test_signing_region_and_addressing_style_reach_the_server() -> None:
    run = run_program("dev", {**DEV_STORE, "artifactEndpointUrl": "https://acct.r2.cloudflarestorage.com",
                              "artifactEndpointRegion": "auto", "artifactEndpointAddressingStyle": "virtual"})
    env = env_of(container(run.one(DEPLOYMENT, "mlflow"), "mlflow"))
    assert env["AWS_DEFAULT_REGION"]["value"] == env["AWS_REGION"]["value"] == "auto"
    assert env["MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE"]["value"] == "virtual"
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "https://acct.r2.cloudflarestorage.com"


def test_the_policy_to_attach_is_exported(dev_store: ProgramRun, prod_store: ProgramRun) -> None:
    """The same least privilege as the MinIO user's and the IRSA role's, on the team's bucket and prefix."""
    for run in (dev_store, prod_store):
        exported = run.stack_outputs["artifactBucketPolicy"]
        assert exported == mlflow_bucket_policy_json("team-ml-artifacts", "mlflow/")
        assert json.loads(exported) == mlflow_bucket_policy("team-ml-artifacts", "mlflow/")
        resources = {r for statement in json.loads(exported)["Statement"] for r in statement["Resource"]}
        assert resources == {"arn:aws:s3:::team-ml-artifacts", "arn:aws:s3:::team-ml-artifacts/mlflow/*"}
        assert "artifactBucketPolicy" not in run.secret_stack_outputs
    outputs = dev_store.component_outputs[component(dev_store, "ArtifactBucket").urn]
    assert outputs["endpointUrl"] == "https://rgw.storage.example.com:8443"
    assert outputs["credentialsSecretName"] == "rgw-mlflow-keys"
    assert "artifactBucketArn" not in dev_store.stack_outputs and "irsaRoleArn" not in dev_store.stack_outputs


def test_other_backends_export_no_policy_to_attach(dev: ProgramRun, prod: ProgramRun) -> None:
    """MinIO's setup Job and the IRSA role attach it themselves."""
    assert "artifactBucketPolicy" not in dev.stack_outputs and "artifactBucketPolicy" not in prod.stack_outputs


def egress(run: ProgramRun, suffix: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = run.one(POLICY, f"mlflow-network-{suffix}").plain_inputs["spec"]["egress"]
    return rules


def test_the_server_and_jobs_pod_reach_the_stores_network_on_its_port_only(dev_store: ProgramRun) -> None:
    store_rule = {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 8443}]}
    for suffix in ("server", "jobs"):
        rules = egress(dev_store, suffix)
        assert store_rule in rules, suffix
        # dev has no token issuers and networkAllowHttpsEgress is off: nothing else leaves the cluster.
        assert not [r for r in rules if {"ipBlock": {"cidr": "0.0.0.0/0"}} in r.get("to", [])], suffix
    for suffix in ("migration", "clients"):
        assert store_rule not in egress(dev_store, suffix)
    names = {r.name for r in dev_store.of_type(POLICY)}
    assert not {"mlflow-network-minio", "mlflow-network-minio-setup", "mlflow-network-backup"} & names


def test_without_a_network_an_https_endpoint_is_reached_on_443() -> None:
    """prod: STORE's endpoint on 8443 without a CIDR would be refused; on 443 the server's https egress carries it."""
    run = run_program("prod", {**PROD_SECRETS, **STORE, "artifactEndpointCidr": "",
                               "artifactEndpointUrl": "https://rgw.storage.example.com",
                               "networkAllowHttpsEgress": True})
    rules = egress(run, "server")
    assert {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]} in rules
    assert not [r for r in rules if r.get("to", [{}])[0].get("ipBlock", {}).get("cidr") not in (None, "0.0.0.0/0")
                and r["ports"] != [{"protocol": "TCP", "port": 5432}]]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_changed_objects_pass_strict_validation(dev_store: ProgramRun, version: str) -> None:
    for obj in [dev_store.one(DEPLOYMENT, "mlflow"), dev_store.one(DEPLOYMENT, "mlflow-jobs"),
                dev_store.one(POLICY, "mlflow-network-server"), dev_store.one(POLICY, "mlflow-network-jobs")]:
        kubernetes_validate.validate(as_manifest(obj), version, strict=True)


def test_no_credential_of_another_backend_leaks_in(dev_store: ProgramRun) -> None:
    strings = set(walk_strings([r.plain_inputs for r in dev_store.kubernetes_objects()]))
    assert not {s for s in strings if "mlflow-artifacts-mlflow-credentials" in s or "svc.cluster.local:9000" in s}


# (stack, overrides, key, what the message says)
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("dev", {**DEV_STORE, "artifactEndpointUrl": ""}, "artifactEndpointUrl", "is required for artifactBackend s3-compat"),
    ("dev", {**DEV_STORE, "artifactCredentialsSecret": ""}, "artifactCredentialsSecret",
     "with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ("dev", {**DEV_STORE, "artifactCredentialsSecret": "Keys_Of_RGW"}, "artifactCredentialsSecret",
     "is not a DNS subdomain"),
    ("dev", {**DEV_STORE, "artifactEndpointUrl": "https://key:secret@rgw.example.com"}, "artifactEndpointUrl",
     "scheme, host and port only"),
    ("dev", {**DEV_STORE, "artifactEndpointUrl": "https://rgw.example.com/team-ml-artifacts"}, "artifactEndpointUrl",
     "scheme, host and port only"),
    ("dev", {**DEV_STORE, "artifactEndpointUrl": "https://rgw.example.com?x-id=1"}, "artifactEndpointUrl",
     "scheme, host and port only"),
    ("dev", {**DEV_STORE, "artifactEndpointUrl": "ftp://rgw.example.com"}, "artifactEndpointUrl",
     "scheme, host and port only"),
    ("dev", {**DEV_STORE, "artifactEndpointUrl": "rgw.example.com"}, "artifactEndpointUrl", "scheme, host and port"),
    ("dev", {**DEV_STORE, "artifactEndpointUrl": "https://rgw.example.com:99999"}, "artifactEndpointUrl",
     "is not an endpoint URL"),
    ("dev", {**DEV_STORE, "artifactEndpointRegion": "us east"}, "artifactEndpointRegion", "is not a signing region"),
    ("dev", {**DEV_STORE, "artifactEndpointAddressingStyle": "auto"}, "artifactEndpointAddressingStyle",
     "'auto' is not allowed; use one of: path, virtual"),
    ("dev", {**DEV_STORE, "artifactPrefix": ""}, "artifactPrefix", "empty would give MLflow the whole bucket"),
    ("dev", {**DEV_STORE, "artifactPrefix": "ml*/"}, "artifactPrefix", "is not a key prefix like mlflow/"),
    ("dev", {**DEV_STORE, "artifactPrefix": "backups/"}, "artifactPrefix", "overlaps 'backups/'"),
    ("dev", {**DEV_STORE, "artifactBucket": "Team_Bucket"}, "artifactBucket", "is not a valid S3 bucket name"),
    ("dev", STORE, "backupsEnabled", "artifactBackend is 's3-compatible'"),
    # Policies on: the server must be able to reach the store.
    ("dev", {**DEV_STORE, "artifactEndpointCidr": ""}, "artifactEndpointCidr",
     "set artifactEndpointCidr to the store's network"),
    ("dev", {**DEV_STORE, "artifactEndpointCidr": "", "networkAllowHttpsEgress": True}, "artifactEndpointCidr",
     "nothing says https://rgw.storage.example.com:8443 (port 8443)"),
    ("dev", {**DEV_STORE, "artifactEndpointCidr": "0.0.0.0/0"}, "artifactEndpointCidr", "is everywhere"),
    ("dev", {**DEV_STORE, "artifactEndpointCidr": "10.20.0.1/24"}, "artifactEndpointCidr", "is not a network in CIDR"),
    # Keys of this backend with another one are a mistake, not silently ignored.
    ("dev", {"artifactEndpointUrl": "https://rgw.example.com"}, "artifactEndpointUrl",
     "is for artifactBackend s3-compatible (the backend is 'minio')"),
    ("prod", {"artifactCredentialsSecret": "rgw-keys"}, "artifactCredentialsSecret", "the backend is 's3'"),
    # A stack whose data is protected takes plain http only with its opt-in.
    ("prod", {**STORE, "artifactEndpointUrl": "http://rgw.storage.example.com:7480"}, "artifactEndpointUrl",
     "set mlflow-platform:allowPlaintextArtifactEndpoint to true"),
]
ACCEPTED: list[tuple[str, dict[str, Any], str]] = [
    ("dev", {**DEV_STORE, "artifactEndpointUrl": "http://minio.storage.svc:9000", "artifactEndpointCidr": "10.0.0.0/8"},
     "dev protects no data: plain http to a store of the team's needs no opt-in"),
    ("prod", {**STORE, "artifactEndpointUrl": "http://rgw.storage.example.com:7480",
              "allowPlaintextArtifactEndpoint": True}, "accepted by its own key"),
    ("prod", {**STORE, "artifactEndpointUrl": "https://10.20.0.5"}, "an IP address is a host"),
    ("dev", {**DEV_STORE, "artifactEndpointCidr": "", "networkPolicies": False},
     "without NetworkPolicies nothing limits where the server connects"),
]


@pytest.mark.parametrize(("stack", "overrides", "key", "expected"), REFUSED,
                         ids=[f"{key}:{expected[:30]}" for _, _, key, expected in REFUSED])
def test_refused_at_preview_naming_the_key(stack: str, overrides: dict[str, Any], key: str, expected: str) -> None:
    assert_refused(stack, overrides, key, expected)


@pytest.mark.parametrize(("stack", "overrides", "why"), ACCEPTED, ids=[why[:40] for _, _, why in ACCEPTED])
def test_accepted(stack: str, overrides: dict[str, Any], why: str) -> None:
    run_program(stack, {**(PROD_SECRETS if stack == "prod" else {}), **overrides}, preview=True,
                skip_config_validation=True)


def test_args_refuse_an_incomplete_or_malformed_store() -> None:
    with pytest.raises(ValueError, match="backend s3-compatible needs endpoint_url and credentials_secret"):
        ArtifactBucketArgs(namespace="mlflow", backend="s3-compatible", endpoint_url="https://rgw.example.com")
    with pytest.raises(ValueError, match="scheme, host and port only"):
        ArtifactBucketArgs(namespace="mlflow", backend="s3-compatible", endpoint_url="https://rgw.example.com/x",
                           credentials_secret="keys")
    with pytest.raises(ValueError, match="addressing_style 'auto'"):
        ArtifactBucketArgs(namespace="mlflow", backend="s3-compatible", endpoint_url="https://rgw.example.com",
                           credentials_secret="keys", addressing_style="auto")
    with pytest.raises(ValueError, match=r"endpoint_cidr '10\.0\.0\.1/8'"):
        ArtifactBucketArgs(namespace="mlflow", backend="s3-compatible", endpoint_url="https://rgw.example.com",
                           credentials_secret="keys", endpoint_cidr="10.0.0.1/8")
