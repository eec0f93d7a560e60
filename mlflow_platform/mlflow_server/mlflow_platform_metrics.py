"""Serves the MLflow server's Prometheus metrics on a port of their own, from the files its workers write, and
whether the server answers.

With MLflow's auth app every path but /health needs a token, /metrics included (fail-closed:
mlflow/server/auth/__init__.py, _before_request), and Prometheus has none. The workers write their
metrics to --expose-prometheus DIR (prometheus_client multiprocess mode); this process, a sidecar
in the server's pod, reads the same directory and serves it, with no host check and no identity.

Prometheus's `up` is then the sidecar's, which stays 1 while the server is dead and keeps serving the dead
workers' counters. So each scrape also asks the server's /health, as its liveness probe does, and reports the
answer as mlflow_platform_server_up: MlflowServerDown reads it in this layout.
"""

import http.client
import os
import time
import urllib.request
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# As the server's liveness probe waits (timeoutSeconds), within Prometheus's default scrape timeout of 10 s.
HEALTH_TIMEOUT_SECONDS = 5


class ServerLiveness(Collector):
    """mlflow_platform_server_up: 1 if the server's /health answered 200 at this scrape, else 0."""

    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("mlflow_platform_server_up", "Whether the MLflow server in this pod answers /health "
                                "(1) or not (0), asked at each scrape.", value=float(self._answers()))

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=HEALTH_TIMEOUT_SECONDS) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):  # refused, reset, timed out, an error status, not HTTP
            return False


def main() -> None:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])  # type: ignore[no-untyped-call]
    registry.register(ServerLiveness(os.environ["SERVER_HEALTH_URL"]))
    start_http_server(int(os.environ.get("METRICS_PORT", "9090")), addr="0.0.0.0", registry=registry)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
