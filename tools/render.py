"""What a stack would declare, without a cluster, a cloud account or the Pulumi CLI: `make render STACK=dev|prod`.

Runs __main__.py under Pulumi's mocks with the stack's configuration read as the CLI reads it (tools/project_config.py),
then writes every Kubernetes object as YAML and a summary of the AWS resources, for review like `helm template`:

    python -m tools.render --stack dev                        # render/dev/kubernetes.yaml, render/dev/aws.md
    python -m tools.render --stack prod --secret ssoClientSecret

Nothing secret is written: every value Pulumi keeps secret (generated passwords and keys, secret config) is the
placeholder SECRET, and what a provider or the API server computes (ClusterIPs, ARNs, endpoints) is marked COMPUTED.
The cluster stack's outputs (prod) are example values, listed in the summary.
"""

import argparse
import contextvars
import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.project_config import apply_project_config  # noqa: E402

SECRET = "SECRET"
COMPUTED = "COMPUTED"
# Example outputs of an EKS cluster stack (what Pulumi.prod.yaml's clusterStack names), shaped as the real ones are.
EXAMPLE_CLUSTER_OUTPUTS: dict[str, Any] = {
    "kubeconfig": {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "example"}]},
    "oidcProviderArn": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
    "oidcIssuerUrl": "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
    "vpcId": "vpc-0example",
    "privateSubnetIds": ["subnet-0example1", "subnet-0example2"],
    "nodeSecurityGroupId": "sg-0example",
    "vpcCidr": "10.0.0.0/16",
}


class RenderMocks(pulumi.runtime.Mocks):
    """Echo inputs as state; what providers compute is COMPUTED, what pulumi-random generates is SECRET."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            return args.inputs["name"], {"name": args.inputs["name"], "outputs": EXAMPLE_CLUSTER_OUTPUTS,
                                         "secretOutputNames": []}
        if args.typ.startswith("random:"):
            state |= {key: rpc.wrap_rpc_secret(SECRET) for key in ("result", "base64", "hex")}
        elif args.typ.startswith("kubernetes:") and "metadata" in state:
            metadata = dict(rpc.unwrap_rpc_secret(state["metadata"]))
            # The provider names an object without metadata.name <name>-<random suffix>.
            metadata.setdefault("name", f"{args.name}-{COMPUTED.lower()}")
            state["metadata"] = metadata
            if args.typ == "kubernetes:core/v1:Service":
                state["spec"] = {**rpc.unwrap_rpc_secret(state.get("spec", {})), "clusterIP": COMPUTED}
        elif args.typ.startswith("aws:"):
            state |= {"arn": COMPUTED, "address": COMPUTED, "endpoint": COMPUTED, "name": state.get("name", COMPUTED)}
        self.resources.append({"type": args.typ, "name": args.name, "inputs": args.inputs})
        return f"{args.name}-{COMPUTED.lower()}", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], None]:
        raise NotImplementedError(f"the program called an invoke render does not answer: {args.token}")


def without_secrets(value: Any) -> Any:
    """Pulumi's secret wrappers replaced by SECRET, all the way down."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            # A secret map (a Secret's stringData) keeps its keys, so a reviewer sees what it holds.
            inner = value.get("value")
            return {key: SECRET for key in inner} if isinstance(inner, dict) else SECRET
        return {key: without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numbers cross the mocks as floats
    return value


def run(stack: str, secrets: list[str]) -> list[dict[str, Any]]:
    project_file = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    values = dict((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {})
    values |= {f"{project_file['name']}:{key}": {"secure": "placeholder"} for key in secrets}
    config = apply_project_config(project_file, stack, values)
    render_mocks = RenderMocks()

    def program() -> None:
        pulumi.runtime.set_mocks(render_mocks, project=project_file["name"], stack=stack, preview=False)
        pulumi.runtime.set_all_config(config.values, config.secret_keys)

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def declared() -> None:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

        declared()

    contextvars.Context().run(program)
    return [{**resource, "inputs": without_secrets(resource["inputs"])} for resource in render_mocks.resources]


def kubernetes_yaml(resources: list[dict[str, Any]]) -> str:
    documents = []
    for resource in sorted(resources, key=lambda r: (r["type"], r["name"])):
        if resource["type"].startswith("kubernetes:") and "kind" in resource["inputs"]:
            # A Secret's stringData is always SECRET here: what the cluster gets is decided at `pulumi up`.
            inputs = resource["inputs"]
            ordered = {key: inputs[key] for key in ("apiVersion", "kind", "metadata") if key in inputs} | inputs
            documents.append(f"# pulumi: {resource['type']} {resource['name']}\n"
                             + yaml.safe_dump(ordered, sort_keys=False, width=120))
    return "---\n".join(documents)


def aws_summary(stack: str, resources: list[dict[str, Any]]) -> str:
    lines = [f"# AWS resources of the {stack} stack", "",
             "Rendered under mocks (tools/render.py): SECRET is a value Pulumi keeps secret, COMPUTED one AWS assigns.",
             "The cluster stack's outputs are example values: "
             + ", ".join(f"`{key}` = `{json.dumps(value)}`" for key, value in EXAMPLE_CLUSTER_OUTPUTS.items()
                         if key != "kubeconfig") + ".", "",
             "| type | name | settings |", "|---|---|---|"]
    for resource in sorted(resources, key=lambda r: (r["type"], r["name"])):
        if resource["type"].startswith("aws:"):
            settings = json.dumps(resource["inputs"], sort_keys=True).replace("|", "\\|")
            lines.append(f"| `{resource['type']}` | `{resource['name']}` | `{settings}` |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="dev or prod: Pulumi.<stack>.yaml")
    parser.add_argument("--secret", action="append", default=[],
                        help="a secret key the stack file does not hold (e.g. ssoClientSecret): rendered as SECRET")
    parser.add_argument("--out", type=Path, help="the directory to write (default: render/<stack>)")
    options = parser.parse_args(argv)
    resources = run(options.stack, options.secret)
    out: Path = options.out or ROOT / "render" / options.stack
    out.mkdir(parents=True, exist_ok=True)
    (out / "kubernetes.yaml").write_text(kubernetes_yaml(resources))
    (out / "aws.md").write_text(aws_summary(options.stack, resources))
    kinds = sum(1 for r in resources if r["type"].startswith("kubernetes:") and "kind" in r["inputs"])
    aws = sum(1 for r in resources if r["type"].startswith("aws:"))
    print(f"{options.stack}: {kinds} Kubernetes objects in {out / 'kubernetes.yaml'}, {aws} AWS resources in "
          f"{out / 'aws.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
