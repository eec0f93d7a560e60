"""The requests real clients of the cluster send, for the runtime tests that play them."""

import requests

from runtime.generated import POD_IP
from runtime.platform import RunningServer

# What Prometheus 3 sends on a scrape (prometheus/scrape/scrape.go, acceptHeader and the request it builds).
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
              "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
              "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "User-Agent": "Prometheus/3.7.3",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


def kubelet_probe(server: RunningServer, probe: str) -> requests.Response:
    """A declared probe as the kubelet sends it: to the pod IP, its declared headers, else `Host: <pod IP>:<port>`
    (kubernetes pkg/probe/http/request.go, NewRequestForHTTPGetAction); no token, no workspace."""
    action = server.declared.probes[probe]["httpGet"]
    headers = {"Host": f"{POD_IP}:{server.declared_port}", "User-Agent": "kube-probe/1.35", "Accept": "*/*"}
    headers |= {h["name"]: h["value"] for h in action.get("httpHeaders", [])}
    return requests.get(f"{server.url}{action['path']}", headers=headers, timeout=10)
