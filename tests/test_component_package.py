"""The components as a package other projects install: the wheel, the schema every language's SDK is generated from,
and the provider the Pulumi CLI runs for them (docs/components.md).

What cannot run here (no Pulumi CLI): `pulumi package add` itself, which clones the repository, makes provider/venv
from provider/requirements.txt, asks the provider for its schema (GetSchema, run below) and generates an SDK.
"""

import gc
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import jsonschema
import pulumi
import pytest
import yaml
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

import mlflow_platform
from engine.component_provider import component_provider
from harness import ROOT, run_program

RUNBOOK = "https://git.example.com/mlflow-platform/docs/monitoring.md"
"""monitoringRunbookUrl / runbook_url: the consumers' copy of docs/monitoring.md."""
SCHEMA = json.loads((ROOT / "provider" / "schema.json").read_text())
TOKENS = {f"mlflow-platform:index:{c.__name__}" for c in mlflow_platform.COMPONENTS}
NAMESPACED = ("Deployment", "StatefulSet", "Service", "Secret", "Job", "CronJob", "ConfigMap", "ServiceAccount",
              "PersistentVolumeClaim", "HTTPRoute", "PrometheusRule", "ServiceMonitor")


# --- The wheel, installed where nothing of the repository is --------------------------------------------------------

@pytest.fixture(scope="module")
def consumer_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the repository with the wheel installed (its dependencies pinned as the repository
    pins them, so pip takes them from its cache), built from a copy of only what pyproject.toml packages."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(ROOT / "mlflow_platform", source / "mlflow_platform",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (source / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "components.md", source / "docs")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(source)], check=True)
    (wheel,) = (work / "dist").glob("mlflow_platform-*.whl")
    environment = work / "venv"
    venv.create(environment, with_pip=True)
    # Constrained by the program's direct pins: the lock's hashes would put pip in hash-checking mode, which refuses
    # the wheel built here (it has no hash to check).
    subprocess.run([str(environment / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(wheel), "--constraint", str(ROOT / "requirements.in")], check=True)
    return environment


def test_the_wheel_holds_the_package_and_its_run_time_files_only(consumer_env: Path) -> None:
    site = next((consumer_env / "lib").glob("python3*/site-packages"))
    package = site / "mlflow_platform"
    for data in ("artifact_bucket/minio_setup.sh", "mlflow_server/mlflow_platform_auth.py",
                 "mlflow_server/mlflow_platform_auth_db.py", "mlflow_server/mlflow_platform_metrics.py", "py.typed"):
        assert (package / data).is_file(), data
    for program_part in ("settings", "tests", "bench", "dev", "e2e", "policy", "tools", "components"):
        assert not (site / program_part).exists(), program_part


@pytest.fixture(scope="module")
def consumed(consumer_env: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """examples/python-platform run by the fresh environment under mocks, from a directory outside the repository."""
    work = tmp_path_factory.mktemp("consumer")
    program = work / "program"
    shutil.copytree(ROOT / "examples" / "python-platform", program)
    shutil.copy(ROOT / "tests" / "package_consumer.py", work)
    result = work / "result.json"
    run = subprocess.run([str(consumer_env / "bin" / "python"), str(work / "package_consumer.py"), str(program),
                          "team-a", str(result)], cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    found: dict[str, Any] = json.loads(result.read_text())
    return found


def test_a_consumer_imports_the_installed_package(consumed: dict[str, Any], consumer_env: Path) -> None:
    assert Path(consumed["package"]).is_relative_to(consumer_env)
    assert consumed["version"] == mlflow_platform.__version__


def test_a_consumer_composes_five_components_from_outputs(consumed: dict[str, Any]) -> None:
    """The namespace, host and bucket are the Namespace's outputs in the example: each reaches the objects."""
    kinds = {(r["type"].rsplit(":", 1)[-1], r["inputs"]["metadata"]["name"]) for r in consumed["resources"]
             if r["type"].startswith("kubernetes:") and "name" in r["inputs"].get("metadata", {})}
    assert {("Namespace", "team-a"), ("StatefulSet", "database"), ("Deployment", "artifacts"), ("Deployment", "mlflow"),
            ("Service", "mlflow"), ("HTTPRoute", "route"), ("PrometheusRule", "monitoring-alerts")} <= kinds
    for resource in consumed["resources"]:
        if resource["type"].rsplit(":", 1)[-1] in NAMESPACED:
            assert resource["inputs"]["metadata"]["namespace"] == "team-a", resource["name"]

    def one(kind: str, name: str) -> dict[str, Any]:
        (found,) = [r["inputs"] for r in consumed["resources"] if r["type"].endswith(f":{kind}") and r["name"] == name]
        inputs: dict[str, Any] = found
        return inputs

    setup = one("Job", "artifacts-setup")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "BUCKET", "value": "team-a-artifacts"} in setup["env"]
    server = one("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    hosts = server["args"][server["args"].index("--allowed-hosts") + 1].split(",")
    assert {"mlflow.team-a.localtest.me", "mlflow.team-a.svc.cluster.local"} <= set(hosts)
    assert server["args"][server["args"].index("--cors-allowed-origins") + 1] == "https://mlflow.team-a.localtest.me"
    assert server["args"][server["args"].index("--artifacts-destination") + 1] == "s3://team-a-artifacts/mlflow/"
    assert one("HTTPRoute", "route")["spec"]["hostnames"] == ["mlflow.team-a.localtest.me"]


def test_a_consumer_reads_the_outputs_it_composes_with(consumed: dict[str, Any]) -> None:
    assert consumed["outputs"] == {
        "tracking_uri": "http://mlflow.team-a.svc.cluster.local:5000",
        "service_name": "mlflow",
        "service_account_name": "mlflow",
        "port": 5000,
        "bucket_name": "team-a-artifacts",
        "artifacts_destination": "s3://team-a-artifacts/mlflow/",
        "uri_secret_name": "database-uri",
        "endpoint": "database.team-a.svc.cluster.local:5432",
        # A Gateway terminates TLS: the URL is https.
        "tracking_url": "https://mlflow.team-a.localtest.me",
        "host": "mlflow.team-a.localtest.me",
    }


# --- Outputs checked when they resolve, with the preview's messages --------------------------------------------------

def consumer_program(tmp_path: Path, body: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: consumer\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi\nimport pulumi_kubernetes as k8s\nimport mlflow_platform as mp\n\n"
                                          "namespace = k8s.core.v1.Namespace('ns', metadata={'name': 'Team_A'})\n"
                                          + body)
    return tmp_path


@pytest.mark.parametrize("form", ["dataclass", "dict"])
def test_an_output_that_resolves_to_a_bad_namespace_fails_with_the_fields_rule(tmp_path: Path, form: str) -> None:
    args = ("mp.MonitoringArgs(namespace=namespace.metadata.name, server=mp.ScrapeTarget('mlflow', {'a': 'b'}, 'http'), "
            f"runbook_url={RUNBOOK!r})" if form == "dataclass" else
            "{'namespace': namespace.metadata.name, 'server': {'job': 'mlflow', 'selector': {'a': 'b'}, 'port': 'http'}, "
            f"'runbook_url': {RUNBOOK!r}}}")
    with pytest.raises(Exception, match=r"MonitoringArgs: namespace: 'Team_A' must be lower-case letters"):
        run_program("dev", program_dir=consumer_program(tmp_path, f"mp.Monitoring('monitoring', {args})\n"))


def test_the_same_value_known_at_preview_is_refused_at_once_with_the_same_rule() -> None:
    with pytest.raises(ValueError, match=r"MonitoringArgs: 'Team_A' must be lower-case letters"):
        mlflow_platform.MonitoringArgs(namespace="Team_A", server=mlflow_platform.ScrapeTarget("mlflow", {}, "http"),
                                       runbook_url=RUNBOOK)


def test_outputs_for_host_bucket_and_arn_are_checked_when_they_resolve(tmp_path: Path) -> None:
    body = ("ns = namespace.metadata.name.apply(lambda _: 'team-a')\n"
            "mp.IngressSSO('door', {'namespace': ns, 'host': ns.apply(lambda _: 'not a host'), 'service_name': 'mlflow'})\n")
    with pytest.raises(Exception, match=r"IngressSsoArgs: host: 'not a host' is not a DNS name"):
        run_program("dev", program_dir=consumer_program(tmp_path, body))
    (tmp_path / "__main__.py").unlink()
    body = ("ns = namespace.metadata.name.apply(lambda _: 'team-a')\n"
            "mp.ArtifactBucket('a', {'namespace': ns, 'bucket_name': ns.apply(lambda _: 'UPPER'), "
            "'data_protection': False})\n")
    with pytest.raises(Exception, match=r"ArtifactBucketArgs: bucket_name: 'UPPER' is not a valid S3 bucket name"):
        run_program("dev", program_dir=consumer_program(tmp_path, body))


KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/0b1f8e2c-7a54-4d3e-9c61-2f5a8d9e4b70"


def test_s3_policies_and_trust_are_built_from_resolved_outputs(tmp_path: Path) -> None:
    """The IRSA trust names the namespace and the policies the bucket, known only once the outputs resolve."""
    body = ("ns = namespace.metadata.name.apply(lambda _: 'team-a')\n"
            "mp.ArtifactBucket('a', mp.ArtifactBucketArgs(namespace=ns, backend='s3', region=ns.apply(lambda _: "
            "'eu-west-1'), bucket_name=ns.apply(lambda n: f'{n}-artifacts'), data_protection=False, "
            f"kms_key_arn=ns.apply(lambda _: '{KMS_KEY}'), "
            "irsa=mp.IrsaTrust(oidc_provider_arn='arn:aws:iam::111122223333:oidc-provider/oidc.example', "
            "issuer_url='https://oidc.example')))\n")
    run = run_program("dev", program_dir=consumer_program(tmp_path, body))
    role = json.loads(run.one("aws:iam/role:Role").plain_inputs["assumeRolePolicy"])
    assert role["Statement"][0]["Condition"]["StringEquals"]["oidc.example:sub"] == "system:serviceaccount:team-a:mlflow"
    assert run.one("aws:iam/role:Role").plain_inputs["description"] == \
        "MLflow server (team-a/mlflow) access to its artifact bucket"
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy").plain_inputs["policy"])
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert {"arn:aws:s3:::team-a-artifacts", KMS_KEY} <= resources
    tls_only = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy").plain_inputs["policy"])
    assert tls_only["Statement"][0]["Resource"] == ["arn:aws:s3:::team-a-artifacts", "arn:aws:s3:::team-a-artifacts/*"]


def test_a_dict_with_a_field_no_component_has_is_refused_naming_the_fields() -> None:
    with pytest.raises(ValueError, match=r"MonitoringArgs: no field 'namspace'; the fields are namespace, server"):
        mlflow_platform.Monitoring("m", {"namspace": "x", "server": {}})  # type: ignore[call-overload]


def test_a_dict_and_the_dataclass_declare_the_same_objects(tmp_path: Path) -> None:
    """Other languages' inputs (dicts, nested types too) become the same validated Args a Python program builds."""
    def declared(directory: str, args: str) -> list[tuple[str, Any]]:
        program = tmp_path / directory
        program.mkdir()
        (program / "Pulumi.yaml").write_text("name: consumer\nruntime: python\n")
        (program / "__main__.py").write_text(
            "import mlflow_platform as mp\n"
            "from mlflow_platform.kube.resources import DEFAULT_RESOURCES, ResourceSpec, WorkloadSizes\n"
            "from mlflow_platform.kube.pods import PodSettings\n"
            f"mp.MlflowPostgres('db', {args})\n")
        run = run_program("dev", program_dir=program)
        return [(r.urn, r.plain_inputs) for r in sorted(run.resources, key=lambda r: r.urn)]

    spec = "'cpu_request': '200m', 'memory_request': '64Mi', 'cpu_limit': '1', 'memory_limit': '256Mi'"
    as_dict = declared("dict", "{'namespace': 'team-a', 'metrics_exporter': True, 'sizes': {'postgresExporter': {"
                       + spec + "}}, 'pods': {'tolerations': [{'key': 'gpu', 'operator': 'Exists'}]}}")
    as_dataclass = declared("dataclass", "mp.MlflowPostgresArgs(namespace='team-a', metrics_exporter=True, "
                            "sizes=WorkloadSizes({**DEFAULT_RESOURCES, 'postgresExporter': ResourceSpec('200m', '64Mi', "
                            "'1', '256Mi')}), pods=PodSettings(tolerations=({'key': 'gpu', 'operator': 'Exists'},)))")
    assert as_dict == as_dataclass


# --- The schema every language's SDK is generated from ----------------------------------------------------------------

def test_the_sdks_analyzer_accepts_all_six_components_and_describes_every_input_and_output() -> None:
    """pulumi.provider.experimental.analyzer, the one component_provider_host runs, over provider/__main__.py's list."""
    # The failed runs above leave futures whose exceptions nobody retrieved; collected in the middle of the analysis,
    # they made its docstring lookup (which swallows every exception) miss a field's docstring in this process.
    # Collecting them first keeps this test about the schema, not about the garbage collector.
    gc.collect()
    result = Analyzer(mlflow_platform.PACKAGE_NAME).analyze(list(mlflow_platform.COMPONENTS))
    components = result["component_definitions"]
    assert set(components) == {"MlflowServer", "MlflowPostgres", "ArtifactBucket", "IngressSSO", "Monitoring",
                               "NetworkPolicies"}
    for name, definition in components.items():
        assert definition.description, name
        assert definition.inputs and definition.outputs, name
        for kind, properties in (("input", definition.inputs), ("output", definition.outputs)):
            assert not [p for p, d in properties.items() if not d.description], (name, kind)
    for name, type_definition in result["type_definitions"].items():
        assert type_definition.description, name
        assert not [p for p, d in type_definition.properties.items() if not d.description], name


def test_the_checked_in_schema_inputs_and_reference_are_what_the_code_gives() -> None:
    """provider/schema.json, mlflow_platform/inputs.py and docs/components.md are regenerated and compared: a change
    to any component's inputs or outputs shows up in review as a diff of the schema."""
    for tool in ("tools.component_inputs", "tools.component_schema"):
        run = subprocess.run([sys.executable, "-m", tool, "--check"], cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


def test_the_schema_marks_what_must_be_known_at_preview() -> None:
    """A plain input takes no Output in other languages' SDKs: the fields the preview's checks need."""
    server = SCHEMA["resources"]["mlflow-platform:index:MlflowServer"]["inputProperties"]
    assert {name for name in ("replicas", "workers", "poolSize", "maxOverflow", "autoscaling") if server[name].get("plain")} \
        == {"replicas", "workers", "poolSize", "maxOverflow", "autoscaling"}
    for token, names in {
        "MlflowServer": ("namespace", "backendUriSecretName", "artifactsDestination", "artifactStoreEnv",
                         "serviceAccountAnnotations", "databaseCaSecret"),
        "ArtifactBucket": ("namespace", "bucketName", "kmsKeyArn", "region", "credentialsSecret"),
        "MlflowPostgres": ("namespace", "caSecret"),
        "IngressSSO": ("namespace", "host", "serviceName", "tlsSecret"),
        "Monitoring": ("namespace",),
        "NetworkPolicies": ("namespace", "databaseCidr", "objectStoreCidr"),
    }.items():
        inputs = SCHEMA["resources"][f"mlflow-platform:index:{token}"]["inputProperties"]
        assert not [name for name in names if inputs[name].get("plain")], token
    for kind, names in {"IrsaTrust": ("oidcProviderArn", "issuerUrl"), "ExternalDatabase": ("host", "password"),
                        "DatabaseNetwork": ("vpcId", "subnetIds", "clientSecurityGroupId"),
                        "OidcSso": ("issuerUrl", "clientId", "clientSecret")}.items():
        properties = SCHEMA["types"][f"mlflow-platform:index:{kind}"]["properties"]
        assert not [name for name in names if properties[name].get("plain")], kind


# --- The provider, as the engine runs it ----------------------------------------------------------------------------

def test_the_provider_serves_the_checked_in_schema() -> None:
    with component_provider() as host:
        served = host.provider.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60).schema
    assert json.loads(served) == SCHEMA
    assert set(SCHEMA["resources"]) == TOKENS
    assert all(resource["isComponent"] for resource in SCHEMA["resources"].values())


def test_construct_registers_the_components_children_and_returns_its_outputs() -> None:
    """As when a YAML or TypeScript program declares the component: inputs in the schema's names, children registered
    under it with the engine's monitor, outputs in the response's state."""
    inputs = {"namespace": "team-a", "server": {"job": "mlflow", "selector": {"app.kubernetes.io/name": "mlflow"},
                                                "port": "http"}, "runbookUrl": RUNBOOK}
    with component_provider() as host:
        response = host.construct("mlflow-platform:index:Monitoring", "monitoring", inputs)
        registered = dict(host.monitor.resources)
    component = registered[response.urn]
    assert (component.type, component.custom, component.parent) == ("mlflow-platform:index:Monitoring", False,
                                                                    "urn:pulumi:dev::consumer::pulumi:pulumi:Stack::consumer-dev")
    children = {(r.type, r.name): r for r in registered.values() if r.parent == response.urn}
    assert set(children) == {("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-mlflow"),
                             ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-alerts"),
                             ("kubernetes:core/v1:ConfigMap", "monitoring-dashboard")}
    for child in children.values():
        assert child.inputs["metadata"]["namespace"] == "team-a"
    state = rpc.deserialize_properties(response.state, keep_unknowns=True)
    assert state == {"serviceMonitorNames": ["mlflow"], "prometheusRule": "monitoring-alerts",
                     "dashboard": "monitoring-dashboard"}
    assert component.outputs == state


def test_construct_refuses_bad_inputs_with_the_components_own_message() -> None:
    with component_provider() as host, pytest.raises(Exception, match="MonitoringArgs: 'Team_A' must be lower-case"):
        host.construct("mlflow-platform:index:Monitoring", "monitoring",
                       {"namespace": "Team_A", "server": {"job": "mlflow", "selector": {}, "port": "http"},
                        "runbookUrl": RUNBOOK})


def test_the_plugin_is_run_from_the_repository_with_the_package_and_pinned_sdks() -> None:
    """The Python language host runs <plugin dir>/__main__.py in <plugin dir>/venv, made with pip from
    requirements.txt in that directory (pulumi sdk/python/cmd/pulumi-language-python RunPlugin, toolchain pip.go)."""
    assert yaml.safe_load((ROOT / "provider" / "PulumiPlugin.yaml").read_text()) == {"runtime": "python"}
    lines = [line for line in (ROOT / "provider" / "requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines == ["-r ../requirements.in", ".."]  # the program's direct pins: hashes would refuse '..'


# --- The examples that compose ----------------------------------------------------------------------------------------

YAML_EXAMPLE = yaml.safe_load((ROOT / "examples" / "yaml-platform" / "Pulumi.yaml").read_text())


def test_the_yaml_example_is_a_valid_project_file() -> None:
    """Against the CLI's own project schema (pulumi sdk/go/common/workspace/project.json, stored beside the tests)."""
    project_schema = json.loads((ROOT / "tests" / "engine" / "project.schema.json").read_text())
    jsonschema.validate(YAML_EXAMPLE, project_schema)
    assert YAML_EXAMPLE["packages"] == {"mlflow-platform": "../../provider"}


def test_the_yaml_example_gives_each_component_what_the_schema_requires_and_nothing_else() -> None:
    used = set()
    for name, resource in YAML_EXAMPLE["resources"].items():
        if resource["type"] not in SCHEMA["resources"]:
            continue
        used.add(resource["type"])
        spec = SCHEMA["resources"][resource["type"]]
        given = resource.get("properties", {})
        assert set(spec["requiredInputs"]) <= set(given), name
        assert set(given) <= set(spec["inputProperties"]), name
        # An interpolation is an output: only where the schema allows one.
        for key, value in given.items():
            if "${" in json.dumps(value) and spec["inputProperties"][key].get("plain"):
                assert spec["inputProperties"][key]["type"] in ("array", "object"), (name, key)
    assert len(used) >= 4


def test_pulumi_input_is_what_the_schema_calls_non_plain() -> None:
    """The rule the schema test above relies on: the analyzer marks a field plain unless it is a pulumi.Input."""
    class Probe(pulumi.ComponentResource):
        def __init__(self, name: str, args: "ProbeArgs", opts: pulumi.ResourceOptions | None = None) -> None: ...

    from typing import TypedDict

    class ProbeArgs(TypedDict):
        known: str
        """A plain string."""
        later: pulumi.Input[str]
        """An input."""

    Probe.__init__.__annotations__["args"] = ProbeArgs
    inputs = Analyzer("probe").analyze([Probe])["component_definitions"]["Probe"].inputs
    assert (inputs["known"].plain, inputs["later"].plain) == (True, None)
