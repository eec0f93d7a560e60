"""Every pod any stack declares meets the restricted Pod Security Standard, which the namespace enforces.

The rules are Kubernetes' "Restricted" policy (kubernetes.io/docs/concepts/security/pod-security-standards,
as pod-security-admission checks them): non-root, RuntimeDefault seccomp, no privilege escalation, every
capability dropped (NET_BIND_SERVICE may be added back), nothing from the host, and only these volume types.
"""

from typing import Any

from test_secrets import containers

from conftest import NAMESPACE
from harness import ProgramRun

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                      "secret"}


def pod_specs(run: ProgramRun) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for obj in run.kubernetes_objects():
        spec = obj.plain_inputs.get("spec") or {}
        if obj.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if (spec.get("template") or {}).get("spec"):
            found.append((f"{obj.kind} {obj.name}", spec["template"]["spec"]))
    return found


def violations(where: str, pod: dict[str, Any]) -> list[str]:
    problems = []
    pod_context = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(f"{where}: {key}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"{where}: volume {volume['name']} is {kinds}")
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        context = container.get("securityContext", {})
        name = f"{where}/{container['name']}"
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation")
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []) or set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities {capabilities}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
    return problems


def test_every_pod_meets_the_restricted_standard(any_stack: ProgramRun) -> None:
    pods = pod_specs(any_stack)
    assert len(pods) == len({where.split(",")[0] for where, _ in containers(any_stack)})
    assert [problem for where, pod in pods for problem in violations(where, pod)] == []


def test_the_namespace_enforces_it(each_stack: ProgramRun) -> None:
    labels = each_stack.one(NAMESPACE).plain_inputs["metadata"]["labels"]
    assert {mode: labels[f"pod-security.kubernetes.io/{mode}"] for mode in ("enforce", "audit", "warn")} == {
        "enforce": "restricted", "audit": "restricted", "warn": "restricted"}
