"""Run the Pulumi program under mocks, the way the CLI would, and record every registration.

Config is loaded like `pulumi preview`: Pulumi.<stack>.yaml checked against Pulumi.yaml's
declarations by the CLI's own rules (tools/project_config.py), defaults merged, every value a
string. Each run happens in a fresh contextvars.Context so stacks never leak.
"""

import base64
import contextvars
import hashlib
import runpy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.settings import get_root_resource

from engine.default_providers import default_provider_problems
from tools.project_config import StackConfig, apply_project_config

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
PROJECT = PROJECT_FILE["name"]
# Random results carry this marker so a test can prove the value never leaks outside a Secret.
SECRET_MARKER = "S3CR3T"
ACCOUNT = "123456789012"
REGION = "us-east-1"
# What an EKS cluster stack (Pulumi.prod.yaml's clusterStack) exports, as the tests assume it.
CLUSTER_STACK = "acme/eks-cluster/prod"
CLUSTER_OUTPUTS: dict[str, Any] = {
    "kubeconfig": {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "prod"}]},
    "oidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/0123456789ABCDEF",
    "oidcIssuerUrl": f"https://oidc.eks.{REGION}.amazonaws.com/id/0123456789ABCDEF",
    "vpcId": "vpc-0a1b2c3d4e5f67890",
    "privateSubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222", "subnet-0ccc3333"],
    "nodeSecurityGroupId": "sg-0node1234567890",
    "vpcCidr": "10.20.0.0/16",
}


@dataclass(frozen=True)
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    custom: bool
    inputs: dict[str, Any]
    """As the engine receives them: secrets in Pulumi's wire form (see is_secret)."""
    outputs: dict[str, Any]
    dependencies: tuple[str, ...]
    retain_on_delete: bool
    protect: bool
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """create/update/delete as given in ResourceOptions.custom_timeouts (empty: the provider's defaults)."""
    additional_secret_outputs: tuple[str, ...] = ()
    """Outputs the engine stores encrypted although the provider returns them plain (ResourceOptions)."""
    aliases: tuple[dict[str, Any], ...] = ()
    """ResourceOptions.aliases as the SDK sends them: {"urn": ...} or a spec (name, type, parentUrn, noParent, ...)."""

    def plaintext_state(self) -> Iterator[str]:
        """The strings the engine would write unencrypted to the state: inputs and outputs, except values that are
        secret (as given, or named in additional_secret_outputs)."""
        yield from walk_strings(self.inputs, into_secrets=False)
        for key, value in self.outputs.items():
            if key not in self.additional_secret_outputs and not is_secret(self.inputs.get(key)):
                yield from walk_strings(value, into_secrets=False)

    @property
    def plain_inputs(self) -> dict[str, Any]:
        result = unwrap_secrets(self.inputs)
        assert isinstance(result, dict)
        return result

    @property
    def plain_outputs(self) -> dict[str, Any]:
        result = unwrap_secrets(self.outputs)
        assert isinstance(result, dict)
        return result

    @property
    def kind(self) -> str:
        return str(self.plain_inputs.get("kind", ""))

    @property
    def k8s_name(self) -> str:
        return str(self.plain_inputs.get("metadata", {}).get("name", ""))


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration]
    component_outputs: dict[str, dict[str, Any]]
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    secret_stack_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_token: str) -> list[Registration]:
        return sorted((r for r in self.resources if r.type == type_token), key=lambda r: r.name)

    def one(self, type_token: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_token} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def children_of(self, parent: Registration) -> list[Registration]:
        return sorted((r for r in self.resources if r.parent == parent.urn), key=lambda r: r.urn)

    def kubernetes_objects(self) -> list[Registration]:
        return sorted(
            (r for r in self.resources if r.type.startswith("kubernetes:") and r.custom),
            key=lambda r: r.urn,
        )

    def types(self) -> set[str]:
        return {r.type for r in self.resources}


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def unwrap_secrets(value: Any) -> Any:
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def walk_strings(value: Any, into_secrets: bool = True) -> Iterator[str]:
    """Every string in a value; without into_secrets, not those inside secret values (what state keeps plain)."""
    if is_secret(value) and not into_secrets:
        return
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item, into_secrets)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item, into_secrets)


class EngineError(Exception):
    """The engine would fail the update (e.g. a denied default provider)."""


class PlatformMocks(pulumi.runtime.Mocks):
    """Echo inputs as state and fill in what providers compute; refuse any invoke we did not expect."""

    def __init__(self, stack_references: dict[str, dict[str, Any]]) -> None:
        self.stack_references = stack_references

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        digest = hashlib.sha256(args.name.encode()).hexdigest()
        if args.typ == "pulumi:pulumi:StackReference":
            stack = args.inputs["name"]
            if stack not in self.stack_references:
                raise KeyError(f"no stack named {stack!r}")
            return stack, {"name": stack, "outputs": self.stack_references[stack], "secretOutputNames": []}
        if args.typ.startswith("aws:"):
            return self._aws(args, state, digest)
        if args.typ == "random:index/randomPassword:RandomPassword":
            length = int(args.inputs.get("length", 16))
            state["result"] = rpc.wrap_rpc_secret((SECRET_MARKER + digest)[:length])
        elif args.typ == "random:index/randomBytes:RandomBytes":
            # Bytes whose base64 form starts with the marker; both forms are secret, as the provider's schema says.
            raw = (base64.b64decode(SECRET_MARKER + "AA") + bytes.fromhex(digest))[:int(args.inputs["length"])]
            state["base64"] = rpc.wrap_rpc_secret(base64.b64encode(raw).decode())
            state["hex"] = rpc.wrap_rpc_secret(raw.hex())
        elif args.typ == "random:index/randomString:RandomString":
            length = int(args.inputs.get("length", 16))
            state["result"] = (SECRET_MARKER.lower() + digest)[:length]
        elif args.typ.startswith("kubernetes:") and "metadata" in state:
            metadata = dict(rpc.unwrap_rpc_secret(state["metadata"]))
            # The provider auto-names objects without metadata.name: <name>-<8 random chars>.
            metadata.setdefault("name", f"{args.name}-{digest[:8]}")
            state["metadata"] = metadata
            if args.typ == "kubernetes:core/v1:Service":
                # The API server assigns a ClusterIP from the service CIDR (kind's default: 10.96.0.0/16).
                spec = dict(rpc.unwrap_rpc_secret(state.get("spec", {})))
                if spec.get("type", "ClusterIP") == "ClusterIP":
                    spec.setdefault("clusterIP", f"10.96.{int(digest[:2], 16)}.{int(digest[2:4], 16) or 1}")
                state["spec"] = spec
        return f"{args.name}-id", state

    @staticmethod
    def _aws(args: mocks.MockResourceArgs, state: dict[str, Any], digest: str) -> tuple[str, dict[str, Any]]:
        """What AWS computes: ids, ARNs, names and endpoints."""
        service = args.typ.split(":")[1].split("/")[0]
        resource_id = f"{args.name}-{digest[:8]}"
        state["arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{args.name}"
        if args.typ == "aws:s3/bucket:Bucket":
            resource_id = state.setdefault("bucket", resource_id)
            state["arn"] = f"arn:aws:s3:::{resource_id}"
        elif args.typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{resource_id}"
            state["name"] = resource_id
        elif args.typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{digest[:17]}"
        elif args.typ in ("aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup"):
            state["name"] = resource_id
        elif args.typ == "aws:rds/instance:Instance":
            state["address"] = f"{resource_id}.c{digest[:10]}.{REGION}.rds.amazonaws.com"
            state["endpoint"] = f"{state['address']}:{int(state.get('port', 5432))}"
        return resource_id, state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise NotImplementedError(f"the program called an invoke the tests do not expect: {args.token}")


def _alias(alias: Any) -> dict[str, Any]:
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    spec = alias.spec
    return {"name": spec.name, "type": spec.type, "stack": spec.stack, "project": spec.project,
            "parentUrn": spec.parentUrn, "noParent": spec.noParent}


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, platform_mocks: PlatformMocks) -> None:
        super().__init__(platform_mocks)
        self._lock = threading.Lock()
        self.registrations: list[Registration] = []
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        outputs = rpc.deserialize_properties(response.object, keep_unknowns=True)
        with self._lock:
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    provider=request.provider,
                    custom=request.custom,
                    inputs=inputs,
                    outputs=outputs,
                    dependencies=tuple(request.dependencies),
                    retain_on_delete=request.retainOnDelete,
                    protect=request.protect,
                    custom_timeouts={kind: getattr(request.customTimeouts, kind) for kind in ("create", "update", "delete")
                                     if request.HasField("customTimeouts") and getattr(request.customTimeouts, kind)},
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    aliases=tuple(_alias(alias) for alias in request.aliases),
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        with self._lock:
            self.outputs[request.urn] = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def stack_config(stack: str, overrides: dict[str, Any] | None = None, program_dir: Path = ROOT,
                 skip_config_validation: bool = False) -> StackConfig:
    """Pulumi.<stack>.yaml with `overrides` on top (None removes a key), checked and merged with
    Pulumi.yaml's defaults exactly as the CLI does before it starts the program (tools.project_config)."""
    project_file = yaml.safe_load((program_dir / "Pulumi.yaml").read_text())
    stack_file = program_dir / f"Pulumi.{stack}.yaml"
    stack_values = dict((yaml.safe_load(stack_file.read_text()) or {}).get("config", {}) if stack_file.exists() else {})
    for key, value in (overrides or {}).items():
        full_key = key if ":" in key else f"{project_file['name']}:{key}"
        stack_values.pop(key, None)
        if value is None:
            stack_values.pop(full_key, None)
        else:
            stack_values[full_key] = value
    return apply_project_config(project_file, stack, stack_values, validate=not skip_config_validation)


def run_program(stack: str, overrides: dict[str, Any] | None = None, preview: bool = False,
                stack_references: dict[str, dict[str, Any]] | None = None, program_dir: Path = ROOT,
                skip_config_validation: bool = False) -> ProgramRun:
    """Run `program_dir`/__main__.py for `stack` under mocks; exceptions from the program propagate.

    The CLI's config rules apply first (ProjectConfigError), unless `skip_config_validation`, as
    with `pulumi preview --skip-config-validation`. `stack_references` maps stack names to their
    outputs (default: the cluster stack above)."""
    references = {CLUSTER_STACK: CLUSTER_OUTPUTS} if stack_references is None else stack_references
    config = stack_config(stack, overrides, program_dir, skip_config_validation)
    return contextvars.Context().run(_run_program, stack, config, preview, references, program_dir)


def _run_program(stack: str, config: StackConfig, preview: bool,
                 stack_references: dict[str, dict[str, Any]], program_dir: Path) -> ProgramRun:
    platform_mocks = PlatformMocks(stack_references)
    monitor = RecordingMonitor(platform_mocks)
    project = yaml.safe_load((program_dir / "Pulumi.yaml").read_text())["name"]
    pulumi.runtime.set_mocks(platform_mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(config.values, config.secret_keys)
    exports: dict[str, Any] = {}
    secret_exports: set[str] = set()

    async def collect_exports() -> None:
        root = get_root_resource()
        for name, value in getattr(root, "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            exports[name] = await output.future()
            if await output.is_secret():
                secret_exports.add(name)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> Any:
        runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(collect_exports())

    program()
    urns = [r.urn for r in monitor.registrations]
    duplicates = {u for u in urns if urns.count(u) > 1}
    assert not duplicates, f"the engine would reject duplicate URNs: {duplicates}"
    if problems := default_provider_problems(config.values, monitor.registrations):
        raise EngineError("\n".join(problems))
    return ProgramRun(stack, list(monitor.registrations), dict(monitor.outputs), exports, secret_exports)
