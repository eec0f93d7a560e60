"""A real Prometheus (Debian's package) scraping the declared targets as prometheus-operator would configure it,
with the declared alert rules loaded.

The test's copy differs from the cluster's in time only: every job scrapes each second and rules are evaluated each
second, and each alert's `for` is scaled from minutes to seconds (5m waits 5 s), so an alert that fires after five
minutes in a cluster fires after five seconds here. Expressions, labels and relabelling are kept as declared.
"""

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

from runtime.prometheus_operator import scrape_jobs
from runtime.services import ManagedProcess, free_port

T = TypeVar("T")
# One shard: prometheus-config-reloader writes its number, 0, where the operator wrote $(SHARD).
SHARD = "0"


def minutes_as_seconds(duration: str) -> str:
    """A rule's `for`, its minutes read as seconds ("5m" -> "5s"); other units are refused, not guessed."""
    match = re.fullmatch(r"([0-9]+)m", duration)
    assert match, f"a `for` of {duration!r}: only whole minutes are scaled"
    return f"{match.group(1)}s"


def with_scaled_for(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**group, "rules": [{**rule, "for": minutes_as_seconds(rule["for"])} if "for" in rule else rule
                                for rule in group["rules"]]} for group in groups]


class Prometheus:
    """Scrapes through `proxy_url` (a ForwardProxy routing the pods' IPs to local processes), so every target is
    dialled at its pod's address with that address in the Host header, as in a cluster."""

    def __init__(self, workdir: Path, monitors: list[dict[str, Any]], targets: list[dict[str, Any]],
                 rule_groups: list[dict[str, Any]], proxy_url: str) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is not installed (Debian package prometheus; .ci/run installs it)"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "targets.json").write_text(json.dumps(targets))
        (workdir / "rules.yml").write_text(yaml.safe_dump({"groups": with_scaled_for(rule_groups)}))
        jobs = []
        for monitor in monitors:
            for job in scrape_jobs(monitor):
                del job["kubernetes_sd_configs"]
                job["relabel_configs"][-1]["regex"] = job["relabel_configs"][-1]["regex"].replace("$(SHARD)", SHARD)
                jobs.append({**job, "file_sd_configs": [{"files": [str(workdir / "targets.json")]}],
                             "scrape_interval": "1s", "scrape_timeout": "1s", "proxy_url": proxy_url})
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(workdir / "rules.yml")], "scrape_configs": jobs}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = ManagedProcess(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address={self.url.removeprefix('http://')}", "--log.level=warn"],
            {"PATH": "/usr/bin:/bin"}, workdir / "prometheus.log")
        self.wait_for(lambda: requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200, 60, "ready")

    def _api(self, path: str, **params: str) -> Any:
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result; a query Prometheus cannot parse fails here."""
        result: list[dict[str, Any]] = self._api("query", query=expr)["result"]
        return result

    def targets(self) -> dict[str, list[dict[str, Any]]]:
        data: dict[str, list[dict[str, Any]]] = self._api("targets")
        return data

    def alert_states(self) -> dict[str, str]:
        """Each alerting rule's state: inactive, pending or firing."""
        return {rule["name"]: rule["state"] for group in self._api("rules", type="alert")["groups"]
                for rule in group["rules"]}

    def alerts(self) -> list[dict[str, Any]]:
        """The pending and firing alerts: labels, annotations, state."""
        alerts: list[dict[str, Any]] = self._api("alerts")["alerts"]
        return alerts

    def firing(self) -> dict[str, dict[str, str]]:
        """The firing alerts' labels, by name."""
        return {alert["labels"]["alertname"]: alert["labels"] for alert in self.alerts() if alert["state"] == "firing"}

    def wait_for(self, check: Callable[[], T], timeout: float, what: str) -> T:
        """`check()` once it is truthy; fails with Prometheus's log if it never is."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if result := check():
                    return result
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"not {what} after {timeout}s; prometheus log:\n{self.process.log_tail()}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.stop()
