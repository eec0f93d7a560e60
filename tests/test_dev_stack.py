"""The dev stack as `pulumi up -s dev` would declare it, and the rules every stack keeps."""

from conftest import DEPLOYMENT, JOB, NAMESPACE, PVC, SECRET, SERVICE, SERVICE_ACCOUNT, STATEFULSET
from harness import SECRET_MARKER, ProgramRun, is_secret, walk_strings
from mlflow_platform.validation import image_problem

LABEL_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
              "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"}


def test_declares_the_whole_dev_platform(dev: ProgramRun) -> None:
    kinds = {(r.type, r.name) for r in dev.kubernetes_objects()}
    assert {
        (NAMESPACE, "namespace"),
        (STATEFULSET, "mlflow-postgres"), (PVC, "mlflow-postgres-data"), (SECRET, "mlflow-postgres-uri"),
        (DEPLOYMENT, "mlflow-artifacts"), (JOB, "mlflow-artifacts-setup"),
        (JOB, "mlflow-migrate"), (DEPLOYMENT, "mlflow"), (SERVICE, "mlflow"), (SERVICE_ACCOUNT, "mlflow"),
    } <= kinds


def test_exports_what_other_stacks_read(dev: ProgramRun) -> None:
    assert dev.stack_outputs == {
        "namespace": "mlflow",
        "trackingUri": "http://mlflow.mlflow.svc.cluster.local:5000",
        "serviceAccountName": "mlflow",
        "artifactBucket": "mlflow-artifacts",
        "artifactsDestination": "s3://mlflow-artifacts/mlflow/",
        "databaseEndpoint": "mlflow-postgres.mlflow.svc.cluster.local:5432",
        "trackingUrl": "http://mlflow.localtest.me",
    }


def test_dev_creates_no_cloud_resources(dev: ProgramRun) -> None:
    assert not [t for t in dev.types() if t.startswith("aws:")]


def test_every_kubernetes_object_uses_the_explicit_provider(each_stack: ProgramRun) -> None:
    provider = each_stack.one("pulumi:providers:kubernetes", "k8s")
    for obj in each_stack.kubernetes_objects():
        assert obj.provider.startswith(provider.urn + "::"), obj.urn


def test_every_object_but_the_namespace_belongs_to_a_component(each_stack: ProgramRun) -> None:
    components = {r.urn for r in each_stack.resources if r.type.startswith("mlflow-platform:")}
    for resource in each_stack.resources:
        if resource.type == NAMESPACE or resource.type.startswith("pulumi:providers:") or resource.urn in components:
            continue
        assert resource.parent in components, resource.urn


def test_everything_in_the_namespace_waits_for_it(each_stack: ProgramRun) -> None:
    namespace = each_stack.one(NAMESPACE)
    for comp in (r for r in each_stack.resources if r.type.startswith("mlflow-platform:")):
        assert namespace.urn in comp.dependencies, comp.urn


def test_every_object_carries_the_standard_labels(each_stack: ProgramRun) -> None:
    for obj in each_stack.kubernetes_objects():
        labels = obj.plain_inputs["metadata"].get("labels", {})
        expected = {"app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"} if obj.type == NAMESPACE else LABEL_KEYS
        assert expected <= set(labels), obj.urn
        template = obj.plain_inputs.get("spec", {}).get("template")
        if template:
            assert set(template["metadata"]["labels"]) >= LABEL_KEYS, obj.urn


def test_selectors_use_only_the_immutable_labels(each_stack: ProgramRun) -> None:
    for obj in each_stack.kubernetes_objects():
        selector = obj.plain_inputs.get("spec", {}).get("selector")
        if isinstance(selector, dict):
            keys = set(selector.get("matchLabels", selector))
            assert keys == {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}, obj.urn


def test_every_image_is_pinned(each_stack: ProgramRun) -> None:
    images = [c["image"] for obj in each_stack.kubernetes_objects()
              for c in obj.plain_inputs.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])]
    assert len(images) >= 2
    assert [image for image in images if image_problem(image)] == []


def test_every_container_is_hardened_and_sized(each_stack: ProgramRun) -> None:
    for obj in each_stack.kubernetes_objects():
        pod = obj.plain_inputs.get("spec", {}).get("template", {}).get("spec")
        if not pod:
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True, obj.urn
        assert pod["automountServiceAccountToken"] is False, obj.urn
        for spec in pod["containers"]:
            ctx = spec["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True, obj.urn
            assert ctx["capabilities"] == {"drop": ["ALL"]}, obj.urn
            assert set(spec["resources"]["limits"]) == {"cpu", "memory"}, obj.urn
            assert set(spec["resources"]["requests"]) == {"cpu", "memory"}, obj.urn
        for volume in pod.get("volumes", []):
            if "emptyDir" in volume:
                assert "sizeLimit" in volume["emptyDir"], (obj.urn, volume)


def test_generated_secrets_appear_only_inside_kubernetes_secrets(each_stack: ProgramRun) -> None:
    """No password in container args, env literals, labels, or any other object's inputs
    (RDS must receive its master password, as a secret)."""
    holders = set()
    for resource in each_stack.resources:
        if any(SECRET_MARKER in s for s in walk_strings(resource.inputs)):
            holders.add(resource.type)
    assert holders <= {SECRET, "aws:rds/instance:Instance"} and SECRET in holders
    for instance in each_stack.of_type("aws:rds/instance:Instance"):
        assert is_secret(instance.inputs["password"])


def test_state_holds_no_generated_credential_in_plaintext(each_stack: ProgramRun) -> None:
    """Generated values are credentials even when they are not passwords: MinIO's root user and its users'
    access-key IDs are RandomStrings, whose result the random provider returns plain (the harness gives every
    generated value the marker, in either case)."""
    leaks = sorted(r.urn for r in each_stack.resources
                   if any(SECRET_MARKER.lower() in s.lower() for s in r.plaintext_state()))
    assert leaks == []


def test_secret_values_are_marked_secret(each_stack: ProgramRun) -> None:
    for secret in each_stack.of_type(SECRET):
        assert is_secret(secret.inputs["stringData"]), secret.urn


def test_no_stack_output_carries_a_secret(each_stack: ProgramRun) -> None:
    assert not any(SECRET_MARKER in s for s in walk_strings(each_stack.stack_outputs))
