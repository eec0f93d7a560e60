"""The MLflow UI in a real browser (headless Chromium, Debian's package, driven by Playwright), on the server as the
stacks declare it, reached the ways people reach it:

- through the dev front door's host name (http://mlflow.localtest.me, as NGINX Gateway Fabric passes it on);
- under serverStaticPrefix (http://mlflow.localtest.me/mlflow/);
- with the auth app, signed in: the front door passes the person's ID token as `Authorization: Bearer` on every
  request (oauth2-proxy --pass-authorization-header), which the browser context adds here;
- through `kubectl port-forward svc/mlflow 5000:5000` (http://localhost:5000).

A forward proxy (tests/runtime/forward_proxy.py) takes the browser's requests for those names to the local server,
Host header unchanged. Each case opens the experiments list, a run, a metric's chart and an artifact's preview, and
fails on any API answer that is not 2xx, any page error, any failed request and any console error but one:
MLflow's UI asks ajax-api/2.0/mlflow/users/current on every page, which only the auth app serves (mlflow/server/auth/
routes.py); without it the answer is 404 and the UI carries on signed out. Routes and markers: MLflow 3.17.2's UI
bundle (mlflow/server/js/build), hash routes (`#/experiments/<id>/runs/<run id>` ...).

Screenshots of every page go to test-artifacts/browser/ (the workflow uploads them).
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mlflow.tracking import MlflowClient

from harness import ROOT, run_program
from runtime.auth_calls import ADMIN, PROGRAMS, signed_in_by, tracking_token
from runtime.fixtures import skip_or_fail
from runtime.forward_proxy import ForwardProxy
from runtime.identity_provider import identity_provider
from runtime.platform import migrated_server
from runtime.services import PostgresServer

pytestmark = pytest.mark.runtime

SCREENSHOTS = ROOT / "test-artifacts" / "browser"
FRONT_DOOR = "mlflow.localtest.me"
"""Pulumi.dev.yaml's ingressHost."""
USERS_CURRENT = "/ajax-api/2.0/mlflow/users/current"
API_PATHS = ("/ajax-api/", "/api/", "/get-artifact", "/graphql")
# What a page has rendered, once loaded (MLflow 3.17.2's UI).
ARTIFACT_TEXT = "preview of a run's artifact"


def chromium() -> str:
    """MLFLOW_PLATFORM_CHROMIUM (the pull-request workflow names the runner's Chrome), else Debian's chromium."""
    path = os.environ.get("MLFLOW_PLATFORM_CHROMIUM") or shutil.which("chromium")
    if not path or not Path(path).exists():
        skip_or_fail(f"no Chromium at {path or 'chromium'} (Debian package chromium; .ci/run installs it)")
    return path


@dataclass(frozen=True)
class Case:
    name: str
    stack: dict[str, Any]
    base_url: str
    """Where the browser opens the UI: the front door's name or the port-forward's, the prefix and its slash."""
    auth: bool = False

    @property
    def route(self) -> str:
        """The host:port the browser dials (port 80 when the URL has none)."""
        parts = urlsplit(self.base_url)
        return f"{parts.hostname}:{parts.port or 80}"


CASES = [
    Case("front-door", {}, f"http://{FRONT_DOOR}/"),
    Case("static-prefix", {"serverStaticPrefix": "/mlflow"}, f"http://{FRONT_DOOR}/mlflow/"),
    Case("auth-app", {}, f"http://{FRONT_DOOR}/", auth=True),
    Case("port-forward", {}, "http://localhost:5000/"),
]


@dataclass
class Seeded:
    experiment_id: str
    run_id: str
    run_name: str


@dataclass
class Visit:
    """What the browser saw go wrong on a page."""

    problems: list[str] = field(default_factory=list)

    def watch(self, page: Any, auth: bool) -> None:
        def answered(response: Any) -> None:
            path = urlsplit(response.url).path
            if not any(part in path for part in API_PATHS) or 200 <= response.status < 300:
                return
            if path.endswith(USERS_CURRENT) and response.status == 404 and not auth:
                return  # the UI's probe for the auth app, which this server has not
            self.problems.append(f"{response.status} {response.request.method} {response.url}")

        def console(message: Any) -> None:
            location = str(message.location.get("url", ""))
            if message.type == "error" and not (location.endswith(USERS_CURRENT) and not auth):
                self.problems.append(f"console error: {message.text} ({location})")

        page.on("response", answered)
        page.on("console", console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"failed: {request.method} {request.url} "
                                                                        f"({request.failure})"))


def seed(tracking_uri: str, workdir: Path) -> Seeded:
    """An experiment, a run with a param, a metric's history and a text artifact, through the MLflow client."""
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("browsed")
    run = client.create_run(experiment_id, run_name="browsed-run")
    client.log_param(run.info.run_id, "learning_rate", "0.01")
    for step in range(10):
        client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
    notes = workdir / "notes.txt"
    notes.write_text(f"{ARTIFACT_TEXT}\n")
    client.log_artifact(run.info.run_id, str(notes))
    client.set_terminated(run.info.run_id)
    return Seeded(experiment_id, run.info.run_id, "browsed-run")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        yield playwright


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_ui_shows_experiments_a_run_a_chart_and_an_artifact(
        case: Case, browser: Any, postgres_server: PostgresServer, tmp_path: Path) -> None:
    executable = chromium()
    with ExitStack() as stack:
        issuer = stack.enter_context(identity_provider()) if case.auth else None
        run = run_program("dev", {**case.stack, **(signed_in_by(issuer.issuer) if issuer else {})})
        platform, server = stack.enter_context(migrated_server(run, postgres_server, tmp_path, case.name))
        token = issuer.token("admin", PROGRAMS, email=ADMIN) if issuer else None
        # The person's ID token on every request, as the front door passes it; the seeding client's too.
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        stack.enter_context(tracking_token(token))
        prefix = case.stack.get("serverStaticPrefix", "")
        seeded = seed(f"{server.url}{prefix}", tmp_path)
        proxy = ForwardProxy({case.route: f"127.0.0.1:{server.port}"})
        stack.callback(proxy.stop)
        chrome = browser.chromium.launch(executable_path=executable, args=[
            # Every name through the proxy, localhost too (Chromium bypasses proxies for loopback by default).
            f"--proxy-server={proxy.url}", "--proxy-bypass-list=<-loopback>", "--no-sandbox", "--disable-gpu"])
        stack.callback(chrome.close)
        context = chrome.new_context(extra_http_headers=headers, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        visit = Visit()
        visit.watch(page, case.auth)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        eid, rid = seeded.experiment_id, seeded.run_id

        def shown(shot: str, rendered: str, drawn: str | None = None) -> None:
            """Once `rendered` is visible (and `drawn`, an SVG part, is in the page), a screenshot; one also when
            it never is."""
            try:
                page.locator(rendered).first.wait_for(state="visible")
                if drawn:
                    page.locator(drawn).first.wait_for(state="attached")
            except Exception as error:  # Playwright's timeout: say what the page got wrong meanwhile
                raise AssertionError("\n".join([f"{shot}: {error}", *visit.problems])) from None
            finally:
                page.screenshot(path=str(SCREENSHOTS / f"{case.name}-{shot}.png"), full_page=True)

        def open_route(route: str) -> None:
            page.goto(f"{case.base_url}#{route}", wait_until="load")

        open_route("/experiments")
        shown("experiments", f"main a[href='#/experiments/{eid}']")
        open_route(f"/experiments/{eid}/runs/{rid}")
        shown("run", f"h2:has-text('{seeded.run_name}'), h1:has-text('{seeded.run_name}')")
        # The metric's chart, as a person gets there: its link in the run's metrics table.
        page.locator("main a:text-is('loss')").first.click()
        shown("metric-chart", ".js-plotly-plot", drawn=".js-plotly-plot .scatterlayer .trace path.js-line")
        open_route(f"/experiments/{eid}/runs/{rid}/artifacts/notes.txt")
        shown("artifact-preview", f".mlflow-ShowArtifactPage pre code:has-text(\"{ARTIFACT_TEXT}\")")
        assert not visit.problems, "\n".join(visit.problems)
        assert platform.artifact_keys(rid), "the previewed artifact is in the bucket"
