"""What a platform team sets on every pod (mlflow_platform/kube/pods.py, settings/pods.py): each key reaches the pod
template of every workload of every stack (server, jobs, migration, PostgreSQL, its backup, MinIO, its setup Job,
oauth2-proxy, cloudflared), and nothing else."""

from collections.abc import Iterator
from typing import Any

import pytest
from test_hostile_config import assert_refused, refusal

from conftest import AFFINITY, CLOUDFLARE_FRONT_DOOR, MIRRORS, MONITORED, NODE_SELECTOR, POD_KEYS, PROD_SECRETS, TOLERATIONS
from harness import ProgramRun, Registration, run_program

# Every workload kind: dev (server, migration, PostgreSQL, backup, MinIO, setup), with jobs, prod (oauth2-proxy),
# and the Cloudflare front door (cloudflared).
STACKS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev": ("dev", {}),
    "dev-with-jobs": ("dev", {"serverJobExecution": True, "postgresMaxConnections": 1100}),
    "prod": ("prod", PROD_SECRETS),
    "prod-with-cloudflare-tunnel": ("prod", CLOUDFLARE_FRONT_DOOR),
    "dev-with-pooler": ("dev", {"databasePooler": True}),
}
@pytest.fixture(scope="module", params=list(STACKS))
def configured(request: pytest.FixtureRequest) -> ProgramRun:
    stack, overrides = STACKS[request.param]
    return run_program(stack, {**overrides, **POD_KEYS, "imageRegistryMirrors": MIRRORS})


def pod_templates(run: ProgramRun) -> Iterator[tuple[Registration, dict[str, Any]]]:
    for obj in run.kubernetes_objects():
        spec = obj.plain_inputs.get("spec") or {}
        if obj.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            yield obj, spec["template"]


def paths_to(value: Any, wanted: Any, path: str = "") -> Iterator[str]:
    """Where `wanted` occurs in `value` (as an equal sub-value, or a dict key)."""
    if value == wanted:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            if key == wanted:
                yield f"{path}.{key}"
            yield from paths_to(item, wanted, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths_to(item, wanted, f"{path}[{index}]")


def only_in_pod_templates(run: ProgramRun, wanted: Any) -> None:
    for obj in run.kubernetes_objects():
        for path in paths_to(obj.plain_inputs, wanted):
            assert ".template." in path, f"{obj.kind} {obj.name}: {wanted!r} at {path}"


def test_every_workload_kind_is_covered(configured: ProgramRun) -> None:
    kinds = {obj.kind for obj, _ in pod_templates(configured)}
    assert kinds >= {"Deployment", "Job"}


# PodSpec field <- its key: the value every pod must carry, and a marker that may appear in pod templates only.
SPEC_FIELDS: dict[str, tuple[Any, Any]] = {
    "nodeSelector": (NODE_SELECTOR, NODE_SELECTOR),
    "tolerations": (TOLERATIONS, TOLERATIONS),
    "affinity": (AFFINITY, AFFINITY),
    "priorityClassName": ("ml-platform-high", "ml-platform-high"),
    "imagePullSecrets": ([{"name": "registry-mirror"}], "registry-mirror"),
}


class TestEveryPodGetsEachKey:
    @pytest.mark.parametrize("field", list(SPEC_FIELDS))
    def test_the_pod_spec_field(self, configured: ProgramRun, field: str) -> None:
        expected, marker = SPEC_FIELDS[field]
        for obj, template in pod_templates(configured):
            assert template["spec"][field] == expected, obj.name
        only_in_pod_templates(configured, marker)

    def test_pod_annotations_beside_the_platforms(self, configured: ProgramRun) -> None:
        for obj, template in pod_templates(configured):
            assert template["metadata"]["annotations"]["vault.hashicorp.com/agent-inject"] == "true", obj.name
        only_in_pod_templates(configured, "vault.hashicorp.com/agent-inject")

    def test_pod_labels_beside_the_platforms_and_never_in_a_selector(self, configured: ProgramRun) -> None:
        for obj, template in pod_templates(configured):
            labels = template["metadata"]["labels"]
            assert labels["team"] == "ml-platform" and labels["app.kubernetes.io/part-of"] == "mlflow-platform", obj.name
            assert "team" not in (obj.plain_inputs["spec"].get("selector") or {}).get("matchLabels", {})
        only_in_pod_templates(configured, "team")

    def test_images_through_the_mirror_of_their_registry(self, configured: ProgramRun) -> None:
        for obj, template in pod_templates(configured):
            for container in [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]:
                assert container["image"].startswith("harbor.example.com/"), (obj.name, container["image"])


def test_unset_keys_leave_the_pods_as_they_were(dev: ProgramRun) -> None:
    for obj, template in pod_templates(dev):
        assert not set(SPEC_FIELDS) & set(template["spec"]), obj.name


class TestMirrors:
    def test_docker_hub_short_names_and_tags_and_digests_are_kept(self) -> None:
        from mlflow_platform.kube.images import mirrored
        digest = "sha256:" + "a" * 64
        assert mirrored("postgres:17.7", {"docker.io": "m.example.com/hub"}) == "m.example.com/hub/library/postgres:17.7"
        assert mirrored(f"ghcr.io/mlflow/mlflow:v3.17.2-full@{digest}", {"ghcr.io": "m.example.com:5000/ghcr/"}) == (
            f"m.example.com:5000/ghcr/mlflow/mlflow:v3.17.2-full@{digest}")
        assert mirrored("registry.example.com:5000/team/image:1", {"ghcr.io": "x.example.com"}) == (
            "registry.example.com:5000/team/image:1")

    def test_the_full_image_check_still_sees_the_tag(self) -> None:
        run = run_program("dev", {"imageRegistryMirrors": MIRRORS, "serverWorkers": 2})
        assert run.one("kubernetes:apps/v1:Deployment", "mlflow").plain_inputs["spec"]["template"]["spec"][
            "containers"][0]["image"] == "harbor.example.com/ghcr/mlflow/mlflow:v3.17.2-full"


REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"nodeSelector": {"node pool": "x"}}, "nodeSelector", "is not a label or annotation key"),
    ({"nodeSelector": {"pool": "a b"}}, "nodeSelector", "is not a label value"),
    ({"nodeSelector": ["pool"]}, "nodeSelector", "is not an object"),
    ({"tolerations": [{"key": "x", "operator": "Like"}]}, "tolerations", "operator 'Like' is not one of"),
    ({"tolerations": [{"key": "x", "operator": "Exists", "value": "y"}]}, "tolerations", "Exists takes no value"),
    ({"tolerations": [{"key": "x", "effect": "NoSchedule", "tolerationSeconds": 30}]}, "tolerations",
     "with effect NoExecute only"),
    ({"tolerations": [{"value": "x"}]}, "tolerations", "an empty key needs operator Exists"),
    ({"tolerations": [{"key": "x", "effects": "NoSchedule"}]}, "tolerations", "'effects' is not a toleration field"),
    ({"tolerations": ["dedicated"]}, "tolerations", "is not a list of objects"),
    ({"affinity": {"nodeAfinity": {}}}, "affinity", "'nodeAfinity' is not one of"),
    ({"priorityClassName": "High_Priority"}, "priorityClassName", "is not a DNS subdomain"),
    ({"imagePullSecrets": ["Registry Creds"]}, "imagePullSecrets", "is not a DNS subdomain"),
    ({"podAnnotations": {"mlflow-platform/identity-config": "x"}}, "podAnnotations", "annotations are the platform's"),
    ({"podAnnotations": {"prometheus.io/scrape": True}}, "podAnnotations", "is not a string"),
    ({"podLabels": {"app.kubernetes.io/name": "other"}}, "podLabels", "labels are the platform's"),
    ({"podLabels": {"team": "ml platform"}}, "podLabels", "is not a label value"),
    ({"imageRegistryMirrors": {"ghcr.io": "harbor.example.com/ghcr:v1"}}, "imageRegistryMirrors",
     "is not a registry host with an optional path"),
    ({"imageRegistryMirrors": {"https://ghcr.io": "harbor.example.com"}}, "imageRegistryMirrors",
     "is not a registry host"),
]


@pytest.mark.parametrize(("overrides", "key", "expected"), REFUSED, ids=[f"{k}-{e[:24]}" for _, k, e in REFUSED])
def test_bad_values_are_refused_at_preview_naming_the_key(overrides: dict[str, Any], key: str, expected: str) -> None:
    assert_refused("dev", overrides, key, expected)


def test_every_problem_of_the_area_at_once() -> None:
    message = refusal("dev", {"nodeSelector": {"a b": "c"}, "podLabels": {"app.kubernetes.io/x": "y"},
                              "priorityClassName": "UPPER", "imageRegistryMirrors": {"ghcr.io": "a b"}})
    for key in ("nodeSelector", "podLabels", "priorityClassName", "imageRegistryMirrors"):
        assert f"mlflow-platform:{key}: " in message, message


class TestWorkloadResources:
    """workloadResources sizes each small workload; a part left out keeps its default."""

    def test_each_workload_gets_its_size_and_no_other(self) -> None:
        from mlflow_platform.kube.resources import DEFAULT_RESOURCES
        for workload in DEFAULT_RESOURCES:
            marker = "3333Mi"  # above every default request
            found = []
            for variant, (stack, overrides) in STACKS.items():
                jobs = variant != "prod-with-cloudflare-tunnel"  # routed by path: refused with the tunnel
                run = run_program(stack, {**overrides, "serverJobExecution": jobs, "postgresMaxConnections": 2000,
                                          **MONITORED, "authEnabled": stack == "prod",
                                          "gcSchedule": "0 4 * * *",
                                          "workloadResources": {workload: {"limits": {"memory": marker}}}})
                for obj, template in pod_templates(run):
                    for item in [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]:
                        if item["resources"]["limits"]["memory"] == marker:
                            found.append((obj.name, item["name"]))
                            default = DEFAULT_RESOURCES[workload]
                            assert item["resources"]["requests"] == {"cpu": default.cpu_request,
                                                                     "memory": default.memory_request}
            assert found, workload
            # The backup's two steps share a size, and the migration Job's four (migrate, migrate-auth, check-schema,
            # grant-roles).
            assert len({name for _, name in found}) <= (4 if workload == "migration" else 2), (workload, found)

    def test_problems_name_the_workload(self) -> None:
        message = refusal("dev", {"workloadResources": {
            "minio": {"limits": {"memory": "lots"}}, "oauth2proxy": {}, "backup": {"requests": {"cpu": "2"}},
            "jobs": {"limit": {"cpu": "1"}}}})
        assert "mlflow-platform:workloadResources: minio.limits.memory: 'lots' is not a quantity" in message
        assert "'oauth2proxy' is not a workload; use: jobs, migration" in message
        assert "backup: cpu request 2 is above its limit 1" in message
        assert "jobs: {'limit'" in message
