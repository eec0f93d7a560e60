"""Turn the containers the program declares into local processes, the way Kubernetes would run them.

Nothing here writes a command line by hand: argv and environment come from the captured
Deployment and Job. Only what Kubernetes itself would supply is substituted: Secret values
(which the test controls), cluster DNS names (mapped to loopback addresses), volume mounts
(mapped to local directories, also inside a file URI such as sqlite's) and the listen address (loopback only, on a
free port).
"""

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness import ProgramRun
from runtime.image_env import required_image_bin

# The pod IP the local stand-in pretends to have: an address in kind's default pod CIDR (10.244.0.0/16).
POD_IP = "10.244.0.17"
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
# A URI whose path is a file's absolute path (sqlite:////var/lib/mlflow/mlflow.db, file:///data): scheme:// and the
# slashes before it, kept as they are when the path is mapped.
_FILE_URI_HEAD = re.compile(r"[a-z][a-z0-9+.-]*:///?(?=/)")


@dataclass(frozen=True)
class DeclaredContainer:
    command: list[str]
    args: list[str]
    env: list[dict[str, Any]]
    volume_mounts: list[dict[str, Any]]
    probes: dict[str, dict[str, Any]]
    ports: dict[str, int] = field(default_factory=dict)
    """Declared containerPorts by name."""


def declared_container(run: ProgramRun, type_token: str, name: str) -> DeclaredContainer:
    spec = run.one(type_token, name).plain_inputs["spec"]["template"]["spec"]["containers"][0]
    return DeclaredContainer(
        command=list(spec.get("command", [])),
        args=list(spec.get("args", [])),
        env=list(spec.get("env", [])),
        volume_mounts=list(spec.get("volumeMounts", [])),
        probes={k: v for k, v in spec.items() if k.endswith("Probe")},
        ports={p.get("name", str(p["containerPort"])): int(p["containerPort"]) for p in spec.get("ports", [])},
    )


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, others stay as written."""
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return _VAR_REF.sub(replace, text)


@dataclass
class LocalCluster:
    """What the cluster would provide, pointed at local services."""

    secrets: dict[tuple[str, str], str] = field(default_factory=dict)
    """(Secret name, key) -> value."""
    addresses: dict[str, str] = field(default_factory=dict)
    """In-cluster host:port -> 127.0.0.1:port."""
    mounts: dict[str, Path] = field(default_factory=dict)
    """Container mount path -> local directory."""
    pod_fields: dict[str, str] = field(default_factory=lambda: {"status.podIP": POD_IP})
    """What the downward API (fieldRef) gives the pod."""

    def localise(self, value: str) -> str:
        for cluster_address, local_address in self.addresses.items():
            value = value.replace(cluster_address, local_address)
        flag, separator, path = value.partition("=") if value.startswith("--") else ("", "", value)
        head = flag + separator
        if uri := _FILE_URI_HEAD.match(path):
            head, path = head + uri.group(0), path[uri.end():]
        for container_path, local_path in sorted(self.mounts.items(), key=lambda item: -len(item[0])):
            if path == container_path or path.startswith(container_path + "/"):
                return head + str(local_path) + path[len(container_path):]
        return value

    def environment(self, container: DeclaredContainer) -> dict[str, str]:
        env: dict[str, str] = {}
        for entry in container.env:
            if "fieldRef" in entry.get("valueFrom", {}):
                value = self.pod_fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
            elif "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                value = self.secrets[(ref["name"], ref["key"])]
            else:
                value = expand(entry.get("value", ""), env)
            env[entry["name"]] = self.localise(value)
        return env

    def argv(self, container: DeclaredContainer, env: dict[str, str], port: int | None = None,
             host: str = "127.0.0.1") -> list[str]:
        """The container's command line, run here: on `port`, listening on `host` (loopback unless a test needs the
        declared 0.0.0.0)."""
        argv = [self.localise(expand(part, env)) for part in container.command + container.args]
        # `mlflow` and `python` are the image's: its environment, not the test suite's.
        executable = required_image_bin() / argv[0]
        argv[0] = str(executable) if executable.exists() else shutil.which(argv[0]) or argv[0]
        for flag, value in (("--host", host), ("--port", str(port))):
            if flag in argv and port is not None:
                argv[argv.index(flag) + 1] = value
        return argv


def with_address(uri: str, netloc: str, database: str) -> str:
    """The declared URI with its scheme, driver and query kept, pointed at a local server and database."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, parts.fragment))
