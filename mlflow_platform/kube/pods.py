"""What a platform team sets on every pod it runs: where the pod may be scheduled, how its images are pulled,
and the metadata its agents (Vault, Datadog, Istio) read. One value shared by every workload of the stack."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow_platform.validation import dns_subdomain_problem

TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
AFFINITY_FIELDS = ("nodeAffinity", "podAffinity", "podAntiAffinity")
PLATFORM_LABEL_PREFIX = "app.kubernetes.io/"
"""Labels the platform sets and selects on: a pod label there would break the selectors or lie about the app."""
PLATFORM_ANNOTATION_PREFIX = "mlflow-platform/"

# Kubernetes' qualified names (apimachinery validation IsQualifiedName) and label values (IsValidLabelValue).
_NAME_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def qualified_name_problem(key: str) -> str | None:
    """Why a label or annotation key is not a Kubernetes qualified name ([prefix/]name), or None."""
    prefix, _, name = key.rpartition("/")
    if not _NAME_PART.fullmatch(name) or (prefix and dns_subdomain_problem(prefix)) or key.startswith("/"):
        return (f"{key!r} is not a label or annotation key: [a DNS subdomain prefix/]name, the name up to 63 "
                "characters of letters, digits, '-', '_' and '.', starting and ending alphanumeric")
    return None


def label_value_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
        return (f"{value!r} is not a label value: up to 63 characters of letters, digits, '-', '_' and '.', "
                "starting and ending alphanumeric")
    return None


def toleration_problems(toleration: Any) -> list[str]:
    """A toleration as the API server checks it (core/v1 Toleration, validateTolerations)."""
    if not isinstance(toleration, dict):
        return [f"{toleration!r} is not an object"]
    problems = [f"{name!r} is not a toleration field ({', '.join(TOLERATION_FIELDS)})"
                for name in toleration if name not in TOLERATION_FIELDS]
    operator = toleration.get("operator", "Equal")
    if operator not in TOLERATION_OPERATORS:
        problems.append(f"operator {operator!r} is not one of {', '.join(TOLERATION_OPERATORS)}")
    if operator == "Exists" and toleration.get("value"):
        problems.append("operator Exists takes no value")
    if not toleration.get("key") and operator != "Exists":
        problems.append("an empty key needs operator Exists (it then tolerates every taint)")
    if "key" in toleration and toleration["key"] and (problem := qualified_name_problem(str(toleration["key"]))):
        problems.append(problem)
    if "value" in toleration and (problem := label_value_problem(toleration["value"])):
        problems.append(problem)
    effect = toleration.get("effect")
    if effect not in (None, "", *TOLERATION_EFFECTS):
        problems.append(f"effect {effect!r} is not one of {', '.join(TOLERATION_EFFECTS)}")
    if "tolerationSeconds" in toleration and (effect != "NoExecute"
                                              or not isinstance(toleration["tolerationSeconds"], int)):
        problems.append("tolerationSeconds is a whole number of seconds, with effect NoExecute only")
    return problems


@dataclass(frozen=True)
class PodSettings:
    """Scheduling, image pull secrets and metadata set on every pod of a component."""

    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Node labels every pod requires."""
    tolerations: tuple[Mapping[str, Any], ...] = ()
    """core/v1 Tolerations for every pod."""
    affinity: Mapping[str, Any] = field(default_factory=dict)
    """core/v1 Affinity: nodeAffinity, podAffinity, podAntiAffinity."""
    priority_class_name: str | None = None
    """A PriorityClass that exists in the cluster."""
    image_pull_secrets: tuple[str, ...] = ()
    """Secrets of type kubernetes.io/dockerconfigjson in the namespace, for a private registry or mirror."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Added to every pod (never mlflow-platform/*, which are the platform's)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Added to the platform's labels on each pod; never app.kubernetes.io/*, which the selectors use."""

    def __post_init__(self) -> None:
        problems = [*(qualified_name_problem(key) or label_value_problem(value)
                      for key, value in self.node_selector.items()),
                    *(problem for toleration in self.tolerations for problem in toleration_problems(toleration)),
                    *(f"affinity field {name!r} is not one of {', '.join(AFFINITY_FIELDS)}"
                      for name in self.affinity if name not in AFFINITY_FIELDS),
                    dns_subdomain_problem(self.priority_class_name) if self.priority_class_name else None,
                    *(dns_subdomain_problem(secret) for secret in self.image_pull_secrets),
                    *(qualified_name_problem(key) or (None if isinstance(value, str) else f"{value!r} is not a string")
                      for key, value in self.annotations.items()),
                    *(f"{key!r}: {PLATFORM_ANNOTATION_PREFIX}* annotations are the platform's"
                      for key in self.annotations if key.startswith(PLATFORM_ANNOTATION_PREFIX)),
                    *(qualified_name_problem(key) or label_value_problem(value) for key, value in self.labels.items()),
                    *(f"{key!r}: {PLATFORM_LABEL_PREFIX}* labels are the platform's (its selectors use them)"
                      for key in self.labels if key.startswith(PLATFORM_LABEL_PREFIX))]
        found = [problem for problem in problems if problem]
        if found:
            raise ValueError("; ".join(found))

    def metadata(self, labels: Mapping[str, str], annotations: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A pod template's metadata: the team's labels and annotations beside the platform's, which win."""
        merged_annotations = {**self.annotations, **(annotations or {})}
        return {"labels": {**self.labels, **labels}, **({"annotations": merged_annotations} if merged_annotations else {})}

    def spec(self) -> dict[str, Any]:
        """The PodSpec fields this sets (only those set, so an unset value leaves the rendered pod unchanged)."""
        return {
            **({"nodeSelector": dict(self.node_selector)} if self.node_selector else {}),
            **({"tolerations": [dict(t) for t in self.tolerations]} if self.tolerations else {}),
            **({"affinity": dict(self.affinity)} if self.affinity else {}),
            **({"priorityClassName": self.priority_class_name} if self.priority_class_name else {}),
            **({"imagePullSecrets": [{"name": name} for name in self.image_pull_secrets]}
               if self.image_pull_secrets else {}),
        }

    def template(self, labels: Mapping[str, str], spec: dict[str, Any],
                 annotations: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A PodTemplateSpec: the workload's own spec with the team's fields added."""
        return {"metadata": self.metadata(labels, annotations), "spec": {**self.spec(), **spec}}
