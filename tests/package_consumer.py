"""A consumer's run of a Pulumi program under the SDK's mocks, in an environment that has only the installed wheel.

tests/test_component_package.py copies this file outside the repository and runs it with a fresh virtualenv's Python:
    python package_consumer.py <program directory> <stack> <result.json>
It writes every custom resource the program registered (type, name, inputs) and the program's stack exports. It
imports nothing from the repository: mlflow_platform must come from the installed wheel.
"""

import base64
import hashlib
import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks

import mlflow_platform


class ConsumerMocks(pulumi.runtime.Mocks):
    """Echo inputs as state and fill in what a provider or the API server computes."""

    def __init__(self) -> None:
        self.registered: list[dict[str, Any]] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        digest = hashlib.sha256(args.name.encode()).hexdigest()
        if args.typ == "random:index/randomBytes:RandomBytes":
            raw = bytes.fromhex(digest)[: int(args.inputs["length"])]
            state |= {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
        elif args.typ.startswith("random:"):
            state["result"] = digest[: int(args.inputs.get("length", 16))]
        elif args.typ == "kubernetes:core/v1:Service":
            state["spec"] = {**state.get("spec", {}), "clusterIP": "10.96.0.10"}
        self.registered.append({"type": args.typ, "name": args.name, "inputs": args.inputs})
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], None]:
        raise NotImplementedError(args.token)


def main() -> None:
    program, stack, result = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    consumer_mocks = ConsumerMocks()
    pulumi.runtime.set_mocks(consumer_mocks, project="consumer", stack=stack, preview=False)
    exports: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> pulumi.Output[Any]:
        sys.path.insert(0, str(program))
        scope = runpy.run_path(str(program / "__main__.py"), run_name="__main__")
        outputs = {name: getattr(scope[variable], name) for variable, names in (
            ("server", ("tracking_uri", "service_name", "service_account_name", "port")),
            ("artifacts", ("bucket_name", "artifacts_destination")),
            ("database", ("uri_secret_name", "endpoint")),
            ("front_door", ("tracking_url", "host"))) for name in names}
        return pulumi.Output.all(**outputs).apply(exports.update)

    run()
    result.write_text(json.dumps({"package": mlflow_platform.__file__, "version": mlflow_platform.__version__,
                                  "resources": consumer_mocks.registered, "outputs": exports}, default=str))


if __name__ == "__main__":
    main()
