"""URN stability as a contract: an upgrade of this program never replaces a resource by renaming it.

A changed URN (type token, name or parent chain) makes Pulumi delete the old resource and create a new one; for the
database, its volumes, the bucket or a generated password that is data loss. tests/snapshots/urns.json records every
URN each stack (and each optional part) has ever declared; `python tools/render_stacks.py --urns` adds new ones and
never drops one. Each recorded URN must still be found the way the engine finds old state (tests/engine/aliases.py):
by its URN or through an `aliases` entry. A stateful resource may not go; another may only with a CHANGELOG line that
names its URN as a breaking change, saying why.
"""

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from conftest import OPTIONAL_OBJECTS, PROD_SECRETS, PVC, RANDOM_PASSWORD
from engine.aliases import match, type_of
from harness import ROOT, ProgramRun, run_program

SNAPSHOT: dict[str, list[str]] = json.loads((ROOT / "tests" / "snapshots" / "urns.json").read_text())
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
# Replacing one of these loses data or breaks what holds data (a regenerated password no longer opens the database).
STATEFUL_TYPES = {"aws:rds/instance:Instance", "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2", PVC,
                  "kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret", RANDOM_PASSWORD,
                  "random:index/randomString:RandomString", "random:index/randomBytes:RandomBytes"}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"dev": ("dev", {}), "prod": ("prod", PROD_SECRETS),
                                                   **OPTIONAL_OBJECTS}


def contract_problems(run: ProgramRun, recorded: list[str]) -> list[str]:
    matching = match(run.resources, recorded)
    problems = [f"{urn}: new, not recorded: run `python tools/render_stacks.py --urns`" for urn in matching.created]
    for urn in matching.deleted:
        if type_of(urn) in STATEFUL_TYPES:
            problems.append(f"{urn}: a stateful resource would be replaced (data loss): keep its name and parent, or "
                            "add an alias with its old URN")
        elif urn not in CHANGELOG:
            problems.append(f"{urn}: no longer declared and found through no alias: add one, or a CHANGELOG line "
                            "naming this URN as a breaking change and why")
    return problems


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request: pytest.FixtureRequest, dev: ProgramRun, prod: ProgramRun) -> tuple[str, ProgramRun]:
    name = request.param
    run = {"dev": dev, "prod": prod}.get(name) or run_program(*VARIANTS[name])
    return name, run


def test_every_recorded_urn_is_still_found(variant: tuple[str, ProgramRun]) -> None:
    name, run = variant
    assert contract_problems(run, SNAPSHOT[name]) == []


def test_the_record_covers_every_stateful_resource() -> None:
    recorded = {type_of(urn) for urns in SNAPSHOT.values() for urn in urns}
    assert {"aws:rds/instance:Instance", "aws:s3/bucket:Bucket", PVC, "kubernetes:core/v1:Namespace",
            RANDOM_PASSWORD} <= recorded


def renamed_volumes(monkeypatch: pytest.MonkeyPatch, with_alias: bool) -> None:
    """A code change: PersistentVolumeClaims declared as `<name>-volume` instead of `<name>-data`."""
    original = k8s.core.v1.PersistentVolumeClaim.__init__

    def renamed(self: Any, resource_name: str, *args: Any, **kwargs: Any) -> None:
        new_name = resource_name.replace("-data", "-volume")
        opts = kwargs.get("opts") or pulumi.ResourceOptions()
        if with_alias:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=resource_name)]))
        kwargs["opts"] = opts
        original(self, new_name, *args, **kwargs)

    monkeypatch.setattr(k8s.core.v1.PersistentVolumeClaim, "__init__", renamed)


def test_renaming_a_stateful_resource_without_an_alias_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    renamed_volumes(monkeypatch, with_alias=False)
    problems = contract_problems(run_program("dev"), SNAPSHOT["dev"])
    assert any("PersistentVolumeClaim::mlflow-postgres-data: a stateful resource would be replaced" in p
               for p in problems), problems


def test_an_alias_maps_the_old_urn_to_the_renamed_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    renamed_volumes(monkeypatch, with_alias=True)
    run = run_program("dev")
    matching = match(run.resources, SNAPSHOT["dev"])
    old = next(u for u in SNAPSHOT["dev"] if u.endswith("PersistentVolumeClaim::mlflow-postgres-data"))
    assert matching.moved[old.replace("::mlflow-postgres-data", "::mlflow-postgres-volume")] == old
    assert [urn for urn in matching.deleted if urn not in CHANGELOG] == []
    # The new URN is not recorded yet: the record grows with `--urns`, the old URN stays in it.
    assert [p for p in contract_problems(run, SNAPSHOT["dev"]) if "not recorded" not in p] == []


# What an upgrade changes: the image versions, the size, the replicas. None of it may regenerate a password, key or
# user name, whose random provider replaces the result whenever an input (keepers included) changes.
UPGRADE_LIKE_CHANGES = {"mlflowImage": "ghcr.io/mlflow/mlflow:v3.18.0-full", "postgresImage": "docker.io/library/postgres:17.8",
                        "serverReplicas": 3, "serverWorkers": 1, "postgresStorageSize": "20Gi"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_an_upgrade_regenerates_no_password_key_or_user(stack: str, dev: ProgramRun, prod: ProgramRun) -> None:
    before = {"dev": dev, "prod": prod}[stack]
    overrides = {**VARIANTS[stack][1], **{k: v for k, v in UPGRADE_LIKE_CHANGES.items()
                                          if not (stack == "prod" and k in ("postgresImage", "postgresStorageSize"))}}
    after = run_program(stack, overrides)

    def generated(run: ProgramRun) -> dict[str, Any]:
        return {r.urn: r.plain_inputs for r in run.resources if r.type.startswith("random:index/")}

    assert generated(before)
    assert generated(after) == generated(before)
    for inputs in generated(before).values():
        assert not inputs.get("keepers")  # nothing version-like can ever roll a password
