"""The requests real clients of the cluster send, for the runtime tests that play them."""

# What Prometheus 3 sends on a scrape (prometheus/scrape/scrape.go, acceptHeader and the request it builds).
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
              "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
              "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "User-Agent": "Prometheus/3.7.3",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}
