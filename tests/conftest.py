"""Shared fixtures: each stack's program is run once under mocks and shared by the tests that read it."""

from typing import Any

import pytest

from harness import ProgramRun, Registration, run_program

pytest_plugins = ["runtime.fixtures"]

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NAMESPACE = "kubernetes:core/v1:Namespace"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_STRING = "random:index/randomString:RandomString"


@pytest.fixture(scope="session")
def dev() -> ProgramRun:
    return run_program("dev")


# The one prod value Pulumi.prod.yaml cannot hold: a secret encrypted with the user's own stack key.
PROD_SECRETS = {"ssoClientSecret": {"secure": "v1:encrypted-by-the-stack-key"}}


@pytest.fixture(scope="session")
def prod() -> ProgramRun:
    return run_program("prod", PROD_SECRETS)


@pytest.fixture(scope="session", params=["dev", "prod"])
def each_stack(request: pytest.FixtureRequest, dev: ProgramRun, prod: ProgramRun) -> ProgramRun:
    return {"dev": dev, "prod": prod}[request.param]


# What the default stacks do not declare: the jobs pod, its Service and its NetworkPolicy; prod with teams.
OPTIONAL_OBJECTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev-with-jobs": ("dev", {"serverJobExecution": True, "postgresMaxConnections": 1100}),
    "prod-with-jobs-and-teams": ("prod", {**PROD_SECRETS, "serverJobExecution": True, "postgresMaxConnections": 2000,
                                          "authWorkspaces": {"vision": {"members": ["group:vision"]}}}),
}


@pytest.fixture(scope="module", params=["dev", "prod", *OPTIONAL_OBJECTS])
def any_stack(request: pytest.FixtureRequest, dev: ProgramRun, prod: ProgramRun) -> ProgramRun:
    """Every object any stack declares: both stacks, and the optional objects on top of them."""
    if request.param in OPTIONAL_OBJECTS:
        stack, overrides = OPTIONAL_OBJECTS[request.param]
        return run_program(stack, overrides)
    return dev if request.param == "dev" else prod


def pod_spec(workload: Registration) -> dict[str, Any]:
    spec: dict[str, Any] = workload.plain_inputs["spec"]["template"]["spec"]
    return spec


def container(workload: Registration, name: str | None = None) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    if name is None:
        assert len(containers) == 1
        return dict(containers[0])
    return dict(next(c for c in containers if c["name"] == name))


def env_of(container_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container_spec.get("env", [])}


def component(run: ProgramRun, type_suffix: str) -> Registration:
    return run.one(f"mlflow-platform:index:{type_suffix}")
