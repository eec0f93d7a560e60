"""The rules of the Pulumi CLI, the engine and pulumi-kubernetes that mocks cannot see.

A first real `pulumi preview`/`up` breaks on these, not on what the mocks check. Each test names
where its rule was read; tests/engine/ holds the rules as code, and the harness applies the CLI's
config rules and the engine's default-provider rule to every program run of the suite.
"""

import copy
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import DEPLOYMENT, JOB, PVC, STATEFULSET
from engine.default_providers import default_provider_problems
from engine.kubernetes_await import (
    ALB_GATEWAY,
    AWAIT,
    CUSTOM_RESOURCE,
    KNOWN_GATEWAY_MANIFESTS,
    PROVIDER_DEFAULT_MINUTES,
    WAIT_FOR,
    WORKLOAD_KINDS,
    wait_for_condition,
)
from harness import PROJECT_FILE, ROOT, EngineError, ProgramRun, Registration, run_program, stack_config
from mlflow_platform.kube.timeouts import MARGIN, PULL_MEGABYTES_PER_SECOND, probe_budget_seconds
from mlflow_platform.versions import MLFLOW_IMAGE
from tools.project_config import ProjectConfigError, apply_project_config, validate_project

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
README = (ROOT / "README.md").read_text()


def stack_values(stack: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])


def with_declaration(key: str, declaration: dict[str, Any]) -> dict[str, Any]:
    project: dict[str, Any] = copy.deepcopy(PROJECT_FILE)
    project["config"][key] = declaration
    return project


class TestTheClisProjectConfigRules:
    """pulumi/pulumi pkg/workspace/config.go (ValidateStackConfigAndApplyProjectConfig, run by preview,
    up, refresh and destroy before the program) and sdk/go/common/workspace/project.go (Project.Validate)."""

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_both_stacks_pass_the_clis_checks(self, stack: str) -> None:
        values = stack_values(stack) | ({"mlflow-platform:ssoClientSecret": {"secure": "v1:x"}} if stack == "prod" else {})
        config = apply_project_config(PROJECT_FILE, stack, values)
        assert config.values["mlflow-platform:namespace"] == "mlflow"

    def test_a_typed_secret_key_with_a_default_is_refused(self) -> None:
        """Since v3.202.0 (pulumi/pulumi#20674) defaults are validated like stack values, and a default is
        never encrypted: every preview fails (pulumi/pulumi#21865, open, reproduced on 3.221)."""
        project = with_declaration("ssoClientSecret", {"type": "string", "secret": True, "default": ""})
        with pytest.raises(ProjectConfigError) as refused:
            apply_project_config(project, "dev", stack_values("dev"))
        assert "Stack 'dev' with configuration key 'ssoClientSecret' must be encrypted as it's secret" in str(refused.value)

    def test_the_harness_fails_every_program_run_on_it_as_the_cli_would(self, tmp_path: Path) -> None:
        for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
            shutil.copy(ROOT / name, tmp_path / name)
        text = (tmp_path / "Pulumi.yaml").read_text().replace(
            "  namespace:\n", "  ssoClientSecret:\n    type: string\n    secret: true\n    default: \"\"\n  namespace:\n", 1)
        (tmp_path / "Pulumi.yaml").write_text(text)
        with pytest.raises(ProjectConfigError, match="must be encrypted as it's secret"):
            stack_config("dev", program_dir=tmp_path)

    def test_a_declared_key_without_a_default_must_be_set_in_every_stack(self) -> None:
        """missingStackConfigurationKeysError: so a secret cannot be declared at all unless every stack sets it."""
        project = with_declaration("ssoClientSecret", {"type": "string", "secret": True})
        with pytest.raises(ProjectConfigError) as refused:
            apply_project_config(project, "dev", stack_values("dev"))
        assert "Stack 'dev' is missing configuration value 'ssoClientSecret'" in str(refused.value)

    def test_a_typed_secret_set_in_plaintext_is_refused(self) -> None:
        """validateStackConfigValue; pkg/workspace/config_project_test.go TestStackConfigSecretIsCorrectlyValidated."""
        project = with_declaration("ssoClientSecret", {"type": "string", "secret": True})
        with pytest.raises(ProjectConfigError, match="'ssoClientSecret' must be encrypted"):
            apply_project_config(project, "prod", stack_values("prod") | {"mlflow-platform:ssoClientSecret": "plain"})
        apply_project_config(project, "prod", stack_values("prod") | {"mlflow-platform:ssoClientSecret": {"secure": "v1:x"}})

    @pytest.mark.parametrize(("key", "value", "type_name"), [
        ("serverReplicas", "two", "integer"), ("serverReplicas", 1.5, "integer"), ("serverMetrics", "yes", "boolean"),
        ("serverExtraAllowedHosts", "a.example.com", "array<string>"), ("serverExtraAllowedHosts", [1], "array<string>"),
    ])
    def test_a_stack_value_of_another_type_is_refused(self, key: str, value: Any, type_name: str) -> None:
        """ValidateConfigValue (project.go): stack scalars arrive as text (object.MarshalString)."""
        with pytest.raises(ProjectConfigError) as refused:
            apply_project_config(PROJECT_FILE, "dev", stack_values("dev") | {f"mlflow-platform:{key}": value})
        assert f"Stack 'dev' with configuration key '{key}' must be of type '{type_name}'" in str(refused.value)

    @pytest.mark.parametrize(("key", "value"), [("serverReplicas", 3), ("serverReplicas", "3"), ("serverMetrics", False),
                                                ("serverMetrics", "true"), ("serverTmpSize", 8)])
    def test_values_the_cli_accepts_reach_the_program_as_text(self, key: str, value: Any) -> None:
        config = apply_project_config(PROJECT_FILE, "dev", stack_values("dev") | {key: value})
        assert config.values[f"mlflow-platform:{key}"] == (str(value).lower() if isinstance(value, bool) else str(value))

    def test_defaults_reach_the_program_as_the_cli_writes_them(self) -> None:
        """createConfigValue (config.go): %v for scalars, JSON for arrays."""
        values = apply_project_config(PROJECT_FILE, "dev", {}).values
        assert values["mlflow-platform:dataProtection"] == "true"
        assert values["mlflow-platform:postgresMaxConnections"] == "400"
        assert values["mlflow-platform:ssoEmailDomains"] == "[]"
        assert values["pulumi:disable-default-providers"] == '["*"]'

    @pytest.mark.parametrize(("declaration", "message"), [
        ({"type": "string", "default": 8080}, "The default value specified for configuration key 'k' is not of the "
                                              "expected type 'string'"),
        ({"type": "array", "default": []}, "The configuration key 'k' declares an array but does not specify the "
                                           "underlying type via the 'items' attribute"),
        ({"type": "string", "default": "", "required": True}, "additional properties ['required']"),
        ({"type": "string", "default": "a", "value": "b"}, "project config 'k' cannot have both a 'default' and 'value'"),
    ])
    def test_declarations_the_cli_refuses_to_load(self, declaration: dict[str, Any], message: str) -> None:
        """Project.Validate (project.go ~837-889) and project.json's configTypeDeclaration."""
        assert any(message in problem for problem in validate_project(with_declaration("k", declaration)))

    def test_another_packages_key_takes_a_value_not_a_default(self) -> None:
        """project.go: a key not namespaced by the project must provide 'value' and no type or default."""
        assert validate_project(PROJECT_FILE) == []
        wrong = with_declaration("pulumi:disable-default-providers", {"default": ["*"]})
        assert "should not define a default value" in " ".join(validate_project(wrong))

    def test_the_cli_lets_undeclared_project_keys_through_so_the_program_refuses_them(self) -> None:
        """TestUntypedStackConfigValuesDoNeedProjectDeclaration (config_project_test.go): no error, no warning."""
        config = apply_project_config(PROJECT_FILE, "dev", stack_values("dev") | {"serverReplica": 2})
        assert config.values["mlflow-platform:serverReplica"] == "2"
        with pytest.raises(Exception, match="serverReplica: is not a key of this project; did you mean serverReplicas"):
            run_program("dev", {"serverReplica": 2})


class TestTheEnginesDefaultProviders:
    """pulumi/pulumi pkg/resource/deploy/default_providers.go (shouldDenyRequest), diag 2015."""

    def test_default_providers_are_disabled_for_every_package(self) -> None:
        assert PROJECT_FILE["config"]["pulumi:disable-default-providers"] == ["*"]

    def test_every_resource_of_both_stacks_names_its_provider(self, dev: ProgramRun, prod: ProgramRun) -> None:
        for run in (dev, prod):
            custom = [r for r in run.resources if r.custom and not r.type.startswith(("pulumi:", "pulumi:providers:"))]
            assert custom and all(r.provider for r in custom)

    def test_a_resource_on_a_default_provider_fails_the_update(self, dev: ProgramRun) -> None:
        password = next(r for r in dev.resources if r.type == "random:index/randomPassword:RandomPassword")
        orphan = Registration(**{**vars(password), "provider": ""})
        problems = default_provider_problems({"pulumi:disable-default-providers": '["*"]'}, [orphan])
        assert problems == [f"Default provider for 'random' disabled. '{password.urn}' must use an explicit provider."]
        assert issubclass(EngineError, Exception)


def provider_inputs(run: ProgramRun, package: str) -> dict[str, Any]:
    return run.one(f"pulumi:providers:{package}").plain_inputs


class TestTheKubernetesProvider:
    """pulumi-kubernetes provider.go (Configure, DiffConfig) and gen/schema.go."""

    def test_dev_targets_only_the_quick_starts_kind_context(self, dev: ProgramRun) -> None:
        """An unset context means the kubeconfig's current one, whatever kubectl points at."""
        kind = yaml.safe_load((ROOT / "dev" / "kind.yaml").read_text())
        assert provider_inputs(dev, "kubernetes")["context"] == f"kind-{kind['name']}" == "kind-mlflow"

    def test_throwaway_stacks_forget_objects_of_a_deleted_cluster(self, dev: ProgramRun, prod: ProgramRun) -> None:
        """deleteUnreachable (3.19.4, #2037): an unreachable cluster's objects are dropped from state on
        refresh/destroy. Prod must never forget its objects, so only dataProtection: false sets it."""
        assert provider_inputs(dev, "kubernetes")["deleteUnreachable"] == "true"
        assert provider_inputs(prod, "kubernetes").get("deleteUnreachable") in (None, "false")


def declared(run: ProgramRun, kinds: tuple[str, ...]) -> list[Registration]:
    return [r for r in run.resources if r.type in kinds]


def container_images(workload: Registration) -> list[dict[str, Any]]:
    spec = workload.plain_inputs["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    return [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]


class TestWhatPulumiKubernetesWaitsFor:
    """pulumi/pulumi-kubernetes provider/pkg/await/ (tests/engine/kubernetes_await.py cites each file)."""

    def test_every_kind_the_stacks_declare_has_a_known_await_rule(self, dev: ProgramRun, prod: ProgramRun) -> None:
        """A new kind must be looked up in the provider before it is added: it may block `up`."""
        kinds = {r.type for run in (dev, prod) for r in run.kubernetes_objects()}
        assert kinds - set(AWAIT) == set()

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_workloads_wait_as_long_as_a_first_image_pull_and_their_probes_need(
            self, stack: str, dev: ProgramRun, prod: ProgramRun) -> None:
        """Default: 10 minutes (await.go); customTimeouts win (metadata.TimeoutDuration). The first pull of the
        -full image alone is 13 minutes at 2 MB/s."""
        run = {"dev": dev, "prod": prod}[stack]
        for workload in declared(run, WORKLOAD_KINDS):
            timeouts = workload.custom_timeouts
            assert timeouts.get("create") == timeouts.get("update"), workload.name
            minutes = int(timeouts["create"].removesuffix("m"))
            assert minutes >= PROVIDER_DEFAULT_MINUTES, workload.name
            spec = workload.plain_inputs["spec"]
            if workload.type == JOB:
                # The Job's own deadline bounds pull and work: wait longer than it, so its failure is what `up` shows.
                needed = spec.get("activeDeadlineSeconds", 0) / 60
            else:
                containers = container_images(workload)
                pull = 1600 if any(c["image"] == MLFLOW_IMAGE for c in containers) else 0
                pods = spec.get("replicas") or run.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")\
                    .plain_inputs["spec"]["maxReplicas"]
                needed = (pull / PULL_MEGABYTES_PER_SECOND + pods * max(map(probe_budget_seconds, containers))) / 60
            assert minutes > needed, f"{workload.name}: {minutes} min for {math.ceil(needed)} min of work"

    def test_a_load_balancer_service_makes_up_wait_for_its_address_and_the_key_says_so(self) -> None:
        """service.go: a LoadBalancer Service is ready once status.loadBalancer.ingress has an entry, which only a
        load-balancer controller writes; a cluster without one fails the update after 10 minutes."""
        run = run_program("dev", {"serverServiceType": "LoadBalancer", "networkPolicies": False})
        assert run.one("kubernetes:core/v1:Service", "mlflow").plain_inputs["spec"]["type"] == "LoadBalancer"
        assert "LoadBalancer: also status.loadBalancer.ingress" in AWAIT["kubernetes:core/v1:Service"].waits_for
        description = PROJECT_FILE["config"]["serverServiceType"]["description"]
        assert "pulumi up waits for the load balancer's address" in description and "NodePort" in description

    def test_the_first_up_waits_for_the_mlflow_image_far_beyond_the_default(self, prod: ProgramRun) -> None:
        migration = prod.one(JOB, "mlflow-migrate")
        server = prod.one(DEPLOYMENT, "mlflow")
        assert migration.custom_timeouts["create"] == "35m"
        assert int(server.custom_timeouts["create"].removesuffix("m")) >= math.ceil(1600 / 2 * MARGIN / 60)

    def test_nothing_but_awaited_kinds_carries_timeouts(self, dev: ProgramRun, prod: ProgramRun) -> None:
        """PVCs wait a fixed 5 minutes that customTimeouts do not change (awaiters.go): a timeout there would lie."""
        for run in (dev, prod):
            timed = {r.type for r in run.resources if r.custom_timeouts and r.type.startswith("kubernetes:")}
            assert timed <= set(WORKLOAD_KINDS)

    def test_claims_use_the_clusters_default_class_which_never_blocks_them(self, dev: ProgramRun) -> None:
        """kind's default class `standard` (rancher local-path) binds WaitForFirstConsumer: the await passes while
        Pending (4.16.0 #3130). storageClassName "" would defeat the class lookup and wait for Bound, which needs
        the pod, which waits for the claim."""
        claims = declared(dev, (PVC,))
        assert claims
        for claim in claims:
            assert claim.plain_inputs["spec"].get("storageClassName") != ""
            assert "storageClassName" not in claim.plain_inputs["spec"]

    def test_the_migration_job_is_replaced_before_the_rollout_on_an_image_change(self, dev: ProgramRun) -> None:
        """A Job's spec.template is immutable: a change replaces it (provider/diff.go, forceNewProperties for
        Jobs). Auto-named, it is created before the old one is deleted (a fixed name would force
        delete-before-replace, provider.go Diff), and the Deployment depends on it, so the new schema is in
        place before any new server starts. No ttlSecondsAfterFinished: a Job the TTL controller removed is
        still in Pulumi's state, and the next update of it fails until `pulumi refresh`."""
        upgraded = run_program("dev", {"mlflowImage": "ghcr.io/mlflow/mlflow:v9.9.9-full"})
        for run in (dev, upgraded):
            migration = run.one(JOB, "mlflow-migrate")
            assert "name" not in migration.plain_inputs["metadata"]
            assert "ttlSecondsAfterFinished" not in migration.plain_inputs["spec"]
            assert migration.urn in run.one(DEPLOYMENT, "mlflow").dependencies
        assert container_images(upgraded.one(JOB, "mlflow-migrate"))[0]["image"].endswith("v9.9.9-full")

    def test_no_job_of_either_stack_expires(self, dev: ProgramRun, prod: ProgramRun) -> None:
        for run in (dev, prod):
            assert all("ttlSecondsAfterFinished" not in j.plain_inputs["spec"] for j in declared(run, (JOB,)))

    def test_statefulsets_run_one_replica_whose_readiness_the_probes_define(self, dev: ProgramRun) -> None:
        for statefulset in declared(dev, (STATEFULSET,)):
            assert statefulset.plain_inputs["spec"]["replicas"] == 1
            assert all("readinessProbe" in c for c in container_images(statefulset)[:1])


def quick_start_commands() -> list[str]:
    """The README's Quick start block, one command per line."""
    section = README.split("## Quick start (dev)", 1)[1]
    block = re.search(r"```sh\n(.+?)\n```", section, re.S)
    assert block is not None
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def e2e_deploy_commands() -> list[str]:
    """e2e/run.sh's deploy section."""
    script = (ROOT / "e2e" / "run.sh").read_text()
    section = script.split("# --- make dev", 1)[1].split("\n# ---", 1)[0]
    return [line.strip() for line in section.splitlines()[1:] if line.strip() and not line.startswith("#")]


def locked_urls() -> list[str]:
    lines = (ROOT / "dev" / "manifests.lock").read_text().splitlines()
    return [line.split()[1] for line in lines if line.strip() and not line.startswith("#")]


def shell_variable(script: str, name: str) -> str:
    found = re.search(rf"^{name}=(\S+)$", script, re.M)
    assert found, name
    return found.group(1)


GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
FRONT_DOOR_GROUPS = ("kubernetes:gateway.networking.k8s.io/", "kubernetes:gateway.nginx.org/", "kubernetes:gateway.k8s.aws/")
UP_SCRIPT = (ROOT / "dev" / "up.sh").read_text()


class TestTheFrontDoorsCustomResources:
    """pulumi-kubernetes has no awaiter for the Gateway API (tests/engine/kubernetes_await.py, CUSTOM_RESOURCE):
    a Gateway, an HTTPRoute or a policy is ready once accepted, unless pulumi.com/waitFor names a condition. The
    stack's own Gateway names Programmed, so `up` ends when traffic can flow, and on nothing else: a condition no
    controller writes would hang `up` for 10 minutes and fail it."""

    def test_only_the_stacks_own_gateway_waits_and_for_programmed(self, dev: ProgramRun, prod: ProgramRun) -> None:
        for run in (dev, prod):
            front_door = [r for r in run.kubernetes_objects() if r.type.startswith(FRONT_DOOR_GROUPS)]
            assert {r.type for r in front_door} >= {GATEWAY, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"}
            for obj in front_door:
                annotation = obj.plain_inputs["metadata"].get("annotations", {}).get(WAIT_FOR)
                if obj.type == GATEWAY:
                    assert wait_for_condition(annotation) == ("Programmed", "True")
                else:
                    assert annotation is None, obj.name
            assert AWAIT[GATEWAY] == CUSTOM_RESOURCE

    def test_the_condition_is_parsed_as_the_provider_does(self) -> None:
        """custom.go NewCustom: the "condition=" prefix is optional and the status defaults to True."""
        assert wait_for_condition("condition=Programmed") == ("Programmed", "True")
        assert wait_for_condition("Ready=False") == ("Ready", "False")

    def test_the_dev_gateway_is_of_the_class_make_dev_installs_whose_controller_programs_it(
            self, dev: ProgramRun) -> None:
        gateway_class = dev.one(GATEWAY).plain_inputs["spec"]["gatewayClassName"]
        installed = [implementation for url in locked_urls() for prefix, implementation in KNOWN_GATEWAY_MANIFESTS.items()
                     if url.startswith(prefix) and url.endswith("/deploy/nodeport/deploy.yaml")]
        assert [i.gateway_class for i in installed] == [gateway_class] and all(i.sets_programmed for i in installed)
        # The last manifest is the controller's: dev/up.sh applies it after the CRDs are Established.
        assert locked_urls()[-1].endswith("/deploy/nodeport/deploy.yaml")

    def test_make_dev_waits_for_the_controller_and_its_class_before_pulumi_up(self) -> None:
        up = UP_SCRIPT.index("pulumi up -s dev --yes")
        assert UP_SCRIPT.index("rollout status deployment/nginx-gateway") < up
        assert UP_SCRIPT.index("wait --for=condition=Accepted --timeout=120s gatewayclass/nginx") < up
        # Waits on named objects only: `wait --for=condition=complete job --all` found nothing on a re-run once
        # ingress-nginx's Jobs had expired, and failed.
        assert "--all" not in UP_SCRIPT

    def test_the_kind_node_maps_the_gateways_node_port_to_port_80_of_the_host(self, dev: ProgramRun) -> None:
        """http://mlflow.localtest.me is 127.0.0.1:80: the host's port 80 must reach the node port of the Gateway's
        listener, which dev/up.sh fixes in NGF's NginxProxy."""
        (listener,) = dev.one(GATEWAY).plain_inputs["spec"]["listeners"]
        assert int(shell_variable(UP_SCRIPT, "listener_port")) == listener["port"]
        node_port = int(shell_variable(UP_SCRIPT, "node_port"))
        nodes = yaml.safe_load((ROOT / "dev" / "kind.yaml").read_text())["nodes"]
        mapped = {(m["containerPort"], m["hostPort"]) for node in nodes for m in node.get("extraPortMappings", [])}
        assert (node_port, 80) in mapped
        assert 30000 <= node_port <= 32767  # the API server's default --service-node-port-range

    def test_the_readme_the_e2e_script_and_the_dev_stack_say_the_same(self, dev: ProgramRun) -> None:
        assert quick_start_commands() == ["make dev"] == e2e_deploy_commands()
        assert "kind create cluster --config dev/kind.yaml" in UP_SCRIPT
        assert dev.stack_outputs["trackingUrl"] == "http://mlflow.localtest.me"
        assert "MLFLOW_TRACKING_URI=http://mlflow.localtest.me python examples/first_run.py" in README
        assert (ROOT / "examples" / "first_run.py").read_text() in README

    def test_the_prod_gateway_expects_the_alb_controllers_class_which_the_docs_create(self, prod: ProgramRun) -> None:
        """Prod has no installer: docs/front-doors.md creates the GatewayClass for the controller's controllerName."""
        assert prod.one(GATEWAY).plain_inputs["spec"]["gatewayClassName"] == ALB_GATEWAY.gateway_class
        guide = (ROOT / "docs" / "front-doors.md").read_text()
        assert f"controllerName: {ALB_GATEWAY.controller_name}" in guide
        assert f"name: {ALB_GATEWAY.gateway_class}\n" in guide

    def test_no_stack_uses_ingress_nginx_any_more(self, dev: ProgramRun, prod: ProgramRun) -> None:
        """Retired on 2026-03-24: no releases or security fixes."""
        for run in (dev, prod):
            assert not run.of_type(INGRESS)
        for path in ("README.md", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "dev/up.sh", "e2e/run.sh",
                     "dev/kind.yaml"):
            assert "ingress-nginx/controller" not in (ROOT / path).read_text(), path
