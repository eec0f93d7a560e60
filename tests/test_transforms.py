"""Pulumi's own escape hatch: a transform patches any field the config does not expose (issue 18).

Transforms are run by the engine, not by the SDK. The SDK serves each transform from its callbacks server and sends
the callback with the registration (ResourceOptions.transforms) or once (register_resource_transform); the engine calls
it for that resource, for every descendant of a resource that declared it, and for every later resource of the stack
(pulumi/pulumi pkg/resource/deploy/source_eval.go, RegisterResource: own transforms, then each ancestor's, then the
stack's). The SDK's MockMonitor accepts the callbacks but runs none of them (pulumi/runtime/mocks.py: "The mock monitor
does not run them"), so under mocks a transform changes nothing.

These tests therefore put the engine's step in front of the harness's recording monitor: EngineTransforms calls each
transform through the SDK's own callbacks server, over gRPC and in the engine's order, and registers what comes back.
What the harness records is what the provider would receive. Only the properties are emulated: the options the engine
would pass (and take back) are left empty, and a resource's own transforms see plain values where the engine would send
outputs carrying dependencies (source_eval.go, upgradeOutputValues); the components' children declare none.
"""

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pytest
from pulumi.runtime.proto import callback_pb2, callback_pb2_grpc, resource_pb2

import harness
from conftest import DEPLOYMENT, MONITORED, NAMESPACE, OPTIONAL_OBJECTS, PROD_SECRETS, container, pod_spec
from harness import ROOT, ProgramRun, RecordingMonitor, Registration, run_program

# --- The example the docs show (docs: "Escape hatch: Pulumi transforms") ----------------------------------------------

SIDECAR = {
    "name": "log-shipper",
    "image": "cr.fluentbit.io/fluent/fluent-bit:4.0.3",
    "args": ["--config=/fluent-bit/etc/fluent-bit.yaml"],
    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
}


def with_sidecar(props: Mapping[str, Any]) -> dict[str, Any]:
    """The Deployment's properties with SIDECAR appended to its pod's containers."""
    spec = props["spec"]
    template = spec["template"]
    pod = template["spec"]
    # The namespace enforces the restricted Pod Security Standard: the sidecar runs as the server container does.
    sidecar = {**SIDECAR, "securityContext": pod["containers"][0]["securityContext"]}
    return {**props, "spec": {**spec, "template": {**template, "spec": {**pod, "containers": [*pod["containers"], sidecar]}}}}


def add_sidecar(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Add SIDECAR to the MLflow server's Deployment (logical name "mlflow"), and change nothing else."""
    if args.type_ != "kubernetes:apps/v1:Deployment" or args.name != "mlflow":
        return None
    return pulumi.ResourceTransformResult(props=with_sidecar(args.props), opts=args.opts)


def add_sidecar_transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """The same with the older `transformations`: run by the SDK, on the constructor's own Python arguments."""
    if args.type_ != "kubernetes:apps/v1:Deployment" or args.name != "mlflow":
        return None
    return pulumi.ResourceTransformationResult(props=with_sidecar(args.props), opts=args.opts)


# --- The engine's part --------------------------------------------------------------------------------------------------

class EngineTransforms(RecordingMonitor):
    """RecordingMonitor behind the engine's transform step (source_eval.go: RegisterResource, wrapTransformCallback)."""

    def __init__(self, platform_mocks: harness.PlatformMocks) -> None:
        super().__init__(platform_mocks)
        self._engine_lock = threading.Lock()
        self._stack_callbacks: list[callback_pb2.Callback] = []
        self._declared: dict[str, list[callback_pb2.Callback]] = {}
        self._parents: dict[str, str] = {}

    def RegisterStackTransform(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        with self._engine_lock:
            self._stack_callbacks.append(request)
        return super().RegisterStackTransform(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        own = list(request.transforms)
        with self._engine_lock:
            transforms = list(own)
            ancestor = request.parent
            while ancestor:
                transforms += self._declared.get(ancestor, [])
                ancestor = self._parents.get(ancestor, "")
            transforms += self._stack_callbacks
        properties = request.object
        for callback in transforms:
            properties = self._call(callback, request, properties)
        transformed = resource_pb2.RegisterResourceRequest()
        transformed.CopyFrom(request)
        transformed.object.CopyFrom(properties)
        response = super().RegisterResource(transformed)
        with self._engine_lock:
            self._declared[response.urn] = own
            self._parents[response.urn] = request.parent
        return response

    @staticmethod
    def _call(callback: callback_pb2.Callback, request: Any, properties: Any) -> Any:
        transform_request = resource_pb2.TransformRequest(
            type=request.type, name=request.name, custom=request.custom, parent=request.parent,
            properties=properties, options=resource_pb2.TransformResourceOptions(),
        )
        with grpc.insecure_channel(callback.target) as channel:
            reply = callback_pb2_grpc.CallbacksStub(channel).Invoke(
                callback_pb2.CallbackInvokeRequest(token=callback.token, request=transform_request.SerializeToString()))
        response = resource_pb2.TransformResponse.FromString(reply.response)
        return response.properties if response.HasField("properties") else properties


def run_with_engine_transforms(stack: str, overrides: dict[str, Any] | None = None, program_dir: Path = ROOT) -> ProgramRun:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness, "RecordingMonitor", EngineTransforms)
        return run_program(stack, overrides, program_dir=program_dir)


def program_with(tmp_path: Path, registration: str) -> Path:
    """__main__.py with `registration` (a line a user would put at its top) before the rest of the program."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "__main__.py").write_text(
        "import runpy\n\nimport pulumi\n\n"
        "from test_transforms import add_sidecar, add_sidecar_transformation\n\n"
        f"{registration}\n"
        f"runpy.run_path({str(ROOT / '__main__.py')!r}, run_name='__main__')\n"
    )
    return tmp_path


# The server's Deployment beside the other two: the jobs Deployment shares its pod template, MinIO has its own.
STACK, OVERRIDES = OPTIONAL_OBJECTS["dev-with-jobs"]


@pytest.fixture(scope="module")
def untouched() -> ProgramRun:
    return run_program(STACK, OVERRIDES)


def server_deployment(run: ProgramRun) -> Registration:
    return run.one(DEPLOYMENT, "mlflow")


def assert_only_the_server_has_the_sidecar(run: ProgramRun, untouched: ProgramRun) -> None:
    assert {r.urn for r in run.resources} == {r.urn for r in untouched.resources}
    assert len(untouched.of_type(DEPLOYMENT)) == 3
    before = {r.urn: r.plain_inputs for r in untouched.resources}
    server = server_deployment(run)
    for registration in run.resources:
        if registration.urn != server.urn:
            assert registration.plain_inputs == before[registration.urn], registration.urn
    containers = pod_spec(server)["containers"]
    assert containers[:-1] == pod_spec(server_deployment(untouched))["containers"]
    assert containers[-1] == {**SIDECAR, "securityContext": container(server, "mlflow")["securityContext"]}
    # The rest of the Deployment is as the stack declared it.
    assert {**server.plain_inputs, "spec": None} == {**server_deployment(untouched).plain_inputs, "spec": None}


class TestTheDocumentedExample:
    def test_a_stack_transform_adds_the_sidecar_to_the_servers_deployment_and_nothing_else(
            self, tmp_path: Path, untouched: ProgramRun) -> None:
        program = program_with(tmp_path, "pulumi.runtime.register_resource_transform(add_sidecar)")
        assert_only_the_server_has_the_sidecar(run_with_engine_transforms(STACK, OVERRIDES, program), untouched)

    def test_given_to_the_server_component_it_reaches_the_deployment_and_nothing_else(
            self, untouched: ProgramRun) -> None:
        with with_component_transforms({"MlflowServer": add_sidecar}):
            run = run_with_engine_transforms(STACK, OVERRIDES)
        assert_only_the_server_has_the_sidecar(run, untouched)

    def test_the_mock_monitor_alone_accepts_a_transform_but_runs_none(self, tmp_path: Path, untouched: ProgramRun) -> None:
        """Why the engine's step is emulated above (and a guard: were the SDK to run them, they would run twice)."""
        run = run_program(STACK, OVERRIDES, program_dir=program_with(
            tmp_path, "pulumi.runtime.register_resource_transform(add_sidecar)"))
        assert server_deployment(run).plain_inputs == server_deployment(untouched).plain_inputs

    def test_the_older_transformations_run_in_the_sdk_even_under_mocks(self, tmp_path: Path, untouched: ProgramRun) -> None:
        run = run_program(STACK, OVERRIDES, program_dir=program_with(
            tmp_path, "pulumi.runtime.register_stack_transformation(add_sidecar_transformation)"))
        assert_only_the_server_has_the_sidecar(run, untouched)


# --- Every component passes its transforms to all of its children -------------------------------------------------------

# The components __main__.py imports from the package, as any consumer does.
COMPONENTS = ("ArtifactBucket", "MlflowPostgres", "MlflowServer", "IngressSSO", "Monitoring", "NetworkPolicies")
MARKER = "transformedBy"


class with_component_transforms:  # noqa: N801 - used as a context manager
    """__main__.py's components, each given `transforms[name]` in its opts as a user would pass it."""

    def __init__(self, transforms: dict[str, pulumi.ResourceTransform]) -> None:
        self.transforms = transforms
        self.patch = pytest.MonkeyPatch()

    def __enter__(self) -> None:
        for name, transform in self.transforms.items():
            module = importlib.import_module("mlflow_platform")
            self.patch.setattr(module, name, self._with_transform(getattr(module, name), transform))

    def __exit__(self, *_: object) -> None:
        self.patch.undo()

    @staticmethod
    def _with_transform(component: Callable[..., pulumi.ComponentResource],
                        transform: pulumi.ResourceTransform) -> Callable[..., pulumi.ComponentResource]:
        def build(name: str, args: Any, opts: pulumi.ResourceOptions | None = None) -> pulumi.ComponentResource:
            return component(name, args, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                transforms=[transform])))
        return build


def marking(component: str, seen: list[tuple[str, str]]) -> pulumi.ResourceTransform:
    def mark(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
        seen.append((args.type_, args.name))
        return pulumi.ResourceTransformResult(props={**args.props, MARKER: component}, opts=args.opts)
    return mark


def descendants(run: ProgramRun, ancestor: Registration) -> Iterator[Registration]:
    for child in run.children_of(ancestor):
        yield child
        yield from descendants(run, child)


@pytest.mark.parametrize(("stack", "overrides"), [
    ("dev", {**MONITORED}),  # in-cluster PostgreSQL and MinIO
    ("prod", PROD_SECRETS),  # RDS, S3 and IAM
])
def test_a_transform_given_to_a_component_reaches_each_of_its_children_and_nothing_else(
        stack: str, overrides: dict[str, Any]) -> None:
    seen: dict[str, list[tuple[str, str]]] = {name: [] for name in COMPONENTS}
    with with_component_transforms({name: marking(name, seen[name]) for name in COMPONENTS}):
        run = run_with_engine_transforms(stack, overrides)
    owner: dict[str, str] = {}
    for name in COMPONENTS:
        component = run.one(f"mlflow-platform:index:{name}")
        family = [component, *descendants(run, component)]
        assert len(family) > 1, f"{name} declares no children"
        assert sorted(seen[name]) == sorted((r.type, r.name) for r in family), name
        owner.update({r.urn: name for r in family})
    for registration in run.resources:
        assert registration.plain_inputs.get(MARKER) == owner.get(registration.urn), registration.urn
    # A resource a component creates without parent=self would escape its transforms: only what __main__.py itself
    # declares (the Namespace and the providers) may stand outside every component.
    outside = {(r.type, r.name) for r in run.resources if r.urn not in owner}
    assert {t for t, _ in outside} - {NAMESPACE} <= {t for t in run.types() if t.startswith("pulumi:providers:")}, outside
    assert (NAMESPACE, "namespace") in outside
