"""Serves the MLflow server's Prometheus metrics on a port of their own, from the files its workers write.

With MLflow's auth app every path but /health needs a token, /metrics included (fail-closed:
mlflow/server/auth/__init__.py, _before_request), and Prometheus has none. The workers write their
metrics to --expose-prometheus DIR (prometheus_client multiprocess mode); this process, a sidecar
in the server's pod, reads the same directory and serves it, with no host check and no identity.
"""

import os
import time

from prometheus_client import CollectorRegistry, multiprocess, start_http_server


def main() -> None:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])  # type: ignore[no-untyped-call]
    start_http_server(int(os.environ.get("METRICS_PORT", "9090")), addr="0.0.0.0", registry=registry)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
