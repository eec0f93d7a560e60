"""The component provider as the engine runs it: provider/__main__.py started with the engine's address as its argument,
its gRPC port read from its first line of output (pulumi/provider/server.py main), then GetSchema and Construct
called on it. Construct registers the component's children with the resource monitor named in the request: here a
recording one, like the SDK's own mocks, served over gRPC as the engine serves its monitor.
"""

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import (
    engine_pb2,
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT, STACK = "consumer", "dev"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
# What the engine tells a program it supports (pkg/resource/deploy/source_eval.go SupportsFeature).
FEATURES = {"secrets", "resourceReferences", "outputValues", "deletedWith", "aliasSpecs"}


@dataclass
class Registered:
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)


class RecordingMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """Accepts every registration and echoes its inputs as its state, like the SDK's MockMonitor."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.resources: dict[str, Registered] = {}

    def SupportsFeature(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in FEATURES)

    def RegisterResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        parent_type = request.parent.split("::")[-2].split("$")[-1] if request.parent else ""
        qualified = f"{parent_type}${request.type}" if parent_type and parent_type != "pulumi:pulumi:Stack" else request.type
        urn = f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{request.name}"
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        with self.lock:
            self.resources[urn] = Registered(request.type, request.name, request.parent, request.custom, inputs)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=f"{request.name}-id" if request.custom else "",
                                                     object=request.object)

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self.lock:
            self.resources[request.urn].outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return empty_pb2.Empty()

    def Invoke(self, request: Any, context: Any) -> Any:  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"no invoke expected: {request.tok}")


class Engine(engine_pb2_grpc.EngineServicer):
    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=STACK_URN)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


@dataclass
class Host:
    provider: provider_pb2_grpc.ResourceProviderStub
    monitor: RecordingMonitor
    monitor_address: str
    engine: Engine

    def construct(self, token: str, name: str, inputs: dict[str, Any]) -> provider_pb2.ConstructResponse:
        request = provider_pb2.ConstructRequest(
            project=PROJECT, stack=STACK, dryRun=False, parallel=4, monitorEndpoint=self.monitor_address,
            type=token, name=name, parent=STACK_URN, inputs=plain_struct(inputs), accepts_output_values=True)
        response: provider_pb2.ConstructResponse = self.provider.Construct(request, timeout=60)
        return response


def plain_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def serve(*servicers: tuple[Any, Any]) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    for add, servicer in servicers:
        add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@contextmanager
def component_provider() -> Iterator[Host]:
    """provider/__main__.py running as the engine runs a plugin, with a recording monitor and an engine to talk to."""
    monitor, engine = RecordingMonitor(), Engine()
    monitor_server, monitor_address = serve((resource_pb2_grpc.add_ResourceMonitorServicer_to_server, monitor))
    engine_server, engine_address = serve((engine_pb2_grpc.add_EngineServicer_to_server, engine))
    process = subprocess.Popen([sys.executable, str(ROOT / "provider"), engine_address], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            process.kill()
            raise AssertionError(f"the provider printed no port: {port!r}\n{process.communicate()[1]}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Host(provider_pb2_grpc.ResourceProviderStub(channel), monitor, monitor_address, engine)
    finally:
        process.kill()
        process.wait()
        monitor_server.stop(None)
        engine_server.stop(None)
