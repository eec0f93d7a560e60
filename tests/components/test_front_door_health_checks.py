"""What a load balancer's health check of oauth2-proxy gets, from the container the prod stack declares.

oauth2-proxy v7.15.2 answers its health paths in the chain that runs before any session, route or Host check
(oauthproxy.go buildPreAuthChain, applied to the whole router with r.Use): `--ping-path` (default /ping:
pkg/apis/options/options.go) answers 200 "OK" (pkg/middleware/healthcheck.go), `--ready-path` (default /ready)
200 "OK" when the session store answers (pkg/middleware/readynesscheck.go; the cookie store always does:
pkg/sessions/cookie/session_store.go VerifyConnection). Both match the request path exactly: --proxy-prefix does not
move them. Since v7.15.2 a `--ping-user-agent` no longer answers on any path but narrows /ping to that User-Agent
(GHSA-5hvv-m4w4-gf6v, CHANGELOG.md v7.15.2). An ALB's health check (Host: its node's address, User-Agent:
ELB-HealthChecker/2.0) therefore gets 200 on /ping as long as the container sets none of these flags.
"""

from typing import Any

import pytest

from conftest import DEPLOYMENT, PROD_SECRETS
from harness import ProgramRun, run_program
from mlflow_platform.versions import OAUTH2_PROXY_IMAGE

PING_PATH = "/ping"
READY_PATH = "/ready"
# Flags that would move or narrow the health answers (options.go; --gcp-healthchecks adds paths and a User-Agent).
HEALTH_FLAGS = ("--ping-path", "--ping-user-agent", "--ready-path", "--gcp-healthchecks", "--session-store-type")


def oauth2_proxy(run: ProgramRun) -> dict[str, Any]:
    containers = [c for d in run.of_type(DEPLOYMENT) for c in d.plain_inputs["spec"]["template"]["spec"]["containers"]
                  if c["name"] == "oauth2-proxy"]
    assert len(containers) == 1, "one oauth2-proxy Deployment"
    return dict(containers[0])


def test_these_facts_are_the_pinned_oauth2_proxys() -> None:
    """The behaviour above is v7.15.2's (the --ping-user-agent change is in it): re-read it on an upgrade."""
    assert OAUTH2_PROXY_IMAGE.endswith(":v7.15.2")


@pytest.mark.parametrize("prefix", ["", "/mlflow"])
def test_a_health_check_of_ping_is_answered_before_any_session_or_host_check(prefix: str) -> None:
    # A static prefix rules out the jobs pod, which Pulumi.prod.yaml runs.
    run = run_program("prod", {**PROD_SECRETS, **({"serverStaticPrefix": prefix, "serverJobExecution": False}
                                                 if prefix else {})})
    proxy = oauth2_proxy(run)
    args = [str(arg) for arg in proxy["args"]]
    assert not [arg for arg in args if arg.startswith(HEALTH_FLAGS)], "the defaults: /ping and /ready, any User-Agent"
    # Under a static prefix oauth2-proxy's own pages move (--proxy-prefix), its health paths do not.
    assert (f"--proxy-prefix={prefix}/oauth2" in args) == bool(prefix)
    assert proxy["livenessProbe"]["httpGet"]["path"] == PING_PATH
    assert proxy["readinessProbe"]["httpGet"]["path"] == READY_PATH
    # The health check's traffic port is the one oauth2-proxy listens on.
    port = next(p["containerPort"] for p in proxy["ports"] if p["name"] == proxy["livenessProbe"]["httpGet"]["port"])
    assert f"--http-address=0.0.0.0:{int(port)}" in args
