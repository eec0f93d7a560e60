"""The pods area: what a platform team sets on every pod (scheduling, pull secrets, mirrors, metadata) and the
size of the small workloads."""

from mlflow_platform.kube.images import mirror_problems
from mlflow_platform.kube.pods import PodSettings, label_value_problem, qualified_name_problem, toleration_problems
from mlflow_platform.kube.resources import WorkloadSizes, sized
from settings.reader import ConfigReader


def read_image_mirrors(read: ConfigReader) -> dict[str, str]:
    """imageRegistryMirrors, read before any image so that every image goes through it."""
    mirrors = read.mapping("imageRegistryMirrors")
    problems = mirror_problems(mirrors)
    for problem in problems:
        read.fail("imageRegistryMirrors", problem)
    return {} if problems else dict(mirrors)


def read_sizes(read: ConfigReader) -> WorkloadSizes:
    sizes, problems = sized(read.mapping("workloadResources"))
    for problem in problems:
        read.fail("workloadResources", problem)
    return WorkloadSizes(sizes)


def read_pods(read: ConfigReader) -> PodSettings | None:
    """None when a key of this area is wrong (the problems are recorded, each under its key)."""
    mark = len(read.problems)
    node_selector = read.mapping("nodeSelector")
    for key, value in node_selector.items():
        if problem := qualified_name_problem(key) or label_value_problem(value):
            read.fail("nodeSelector", problem)
    tolerations = read.object_list("tolerations")
    for index, toleration in enumerate(tolerations):
        for problem in toleration_problems(toleration):
            read.fail("tolerations", f"[{index}]: {problem}")
    affinity = read.mapping("affinity")
    annotations = read.mapping("podAnnotations")
    labels = read.mapping("podLabels")
    pod_keys = {"affinity": {"affinity": affinity}, "podAnnotations": {"annotations": annotations},
                "podLabels": {"labels": labels}}
    # PodSettings checks these three; each problem is reported under its own key.
    for key, fields in pod_keys.items():
        read.build(key, PodSettings, **fields)
    priority_class = read.optional("priorityClassName")
    pull_secrets = read.string_list("imagePullSecrets")
    if read.problems_since(mark):
        return None
    return PodSettings(node_selector=node_selector, tolerations=tuple(tolerations), affinity=affinity,
                       priority_class_name=priority_class, image_pull_secrets=pull_secrets, annotations=annotations,
                       labels=labels)
