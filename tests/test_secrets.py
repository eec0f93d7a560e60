"""No secret where it can be read: not on a command line, whichever stack and options declare the workload.

The kubelet expands `$(VAR)` in `command` and `args` before it starts the container (kubernetes
pkg/kubelet/kuberuntime, ExpandContainerCommandAndArgs), so a secret-backed variable named there ends up in the
process's argv: in `ps`, /proc/<pid>/cmdline and the node's container config.
"""

import re
from collections.abc import Iterator
from typing import Any

from harness import ProgramRun

EXPANSION = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def containers(run: ProgramRun) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in run.kubernetes_objects():
        spec = obj.plain_inputs.get("spec") or {}
        if obj.plain_inputs.get("kind") == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = (spec.get("template") or {}).get("spec")
        if pod:
            for each in [*pod.get("initContainers", []), *pod["containers"]]:
                yield f"{obj.plain_inputs['kind']} {obj.name}, container {each['name']}", each


def secret_backed(spec: dict[str, Any]) -> set[str]:
    """Variables whose value comes from a Secret, directly or through a value that expands one."""
    env = spec.get("env", [])
    names = {e["name"] for e in env if "secretKeyRef" in (e.get("valueFrom") or {})}
    grew = True
    while grew:
        more = {e["name"] for e in env if set(EXPANSION.findall(str(e.get("value", "")))) & names}
        grew = not more <= names
        names |= more
    return names


def test_secret_backed_variables_never_reach_a_command_line(any_stack: ProgramRun) -> None:
    offenders = []
    for where, spec in containers(any_stack):
        # envFrom of a Secret makes every one of its keys a variable, all of them secret, except where `env` names
        # the same variable: "Values defined by an Env with a duplicate key will take precedence" (core/v1
        # Container.envFrom, kubernetes api/core/v1/types.go).
        from_secret = any("secretRef" in source for source in spec.get("envFrom", []))
        defined = {e["name"] for e in spec.get("env", []) if e["name"] not in secret_backed(spec)}
        for token in [*spec.get("command", []), *spec.get("args", [])]:
            for name in EXPANSION.findall(str(token)):
                if (from_secret and name not in defined) or name in secret_backed(spec):
                    offenders.append(f"{where}: $({name})")
    assert offenders == []


def test_the_scan_sees_every_workload(dev: ProgramRun) -> None:
    """The server, PostgreSQL, MinIO, the migration, the MinIO setup Job and the backup CronJob."""
    kinds = {where.split(",")[0].split()[0] for where, _ in containers(dev)}
    assert kinds == {"Deployment", "StatefulSet", "Job", "CronJob"}
