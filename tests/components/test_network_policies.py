"""NetworkPolicies: each data store admits only its clients; the server only its front door, Prometheus (on the port
it scrapes) and clients; every pod resolves names at kube-system's DNS only; cloudflared reaches public addresses only."""

import ipaddress
from typing import Any

import pytest

from conftest import CLOUDFLARE_FRONT_DOOR, CRONJOB, DEPLOYMENT, JOB, MONITORED, PROD_SECRETS, SERVICE, STATEFULSET, pod_spec
from harness import CLUSTER_OUTPUTS, ProgramRun, Registration, run_program

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"


def policy(run: ProgramRun, suffix: str) -> dict[str, Any]:
    spec: dict[str, Any] = run.one(POLICY, f"mlflow-network-{suffix}").plain_inputs["spec"]
    return spec


def pod_labels(workload: Registration) -> dict[str, str]:
    labels: dict[str, str] = workload.plain_inputs["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, Any], workload: Registration) -> bool:
    return bool(selector["matchLabels"].items() <= pod_labels(workload).items())


def peers(rule: dict[str, Any], key: str = "from") -> list[dict[str, Any]]:
    return list(rule[key])


def test_dev_declares_a_policy_per_workload_under_a_default_deny(dev: ProgramRun) -> None:
    assert {r.name for r in dev.of_type(POLICY)} == {
        "mlflow-network-default-deny", "mlflow-network-server", "mlflow-network-migration", "mlflow-network-postgres",
        "mlflow-network-minio", "mlflow-network-minio-setup", "mlflow-network-backup", "mlflow-network-clients"}
    assert policy(dev, "default-deny") == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [],
                                           "egress": []}


def workloads(run: ProgramRun) -> list[Registration]:
    return [*run.of_type(DEPLOYMENT), *run.of_type(STATEFULSET), *run.of_type(JOB)]


def test_every_workload_has_an_egress_policy_of_its_own(each_stack: ProgramRun) -> None:
    """Under the default deny a pod without one could not even resolve a name."""
    own = [spec for spec in (r.plain_inputs["spec"] for r in each_stack.of_type(POLICY)) if spec["podSelector"]]
    for workload in workloads(each_stack):
        assert any(selects(spec["podSelector"], workload) and "Egress" in spec["policyTypes"] for spec in own), \
            workload.name
    if each_stack.of_type(CRONJOB):
        assert any(spec["podSelector"]["matchLabels"].items() <= backup_pods(each_stack).items() and
                   "Egress" in spec["policyTypes"] for spec in own)


def test_the_stores_connect_nowhere(dev: ProgramRun) -> None:
    assert policy(dev, "postgres")["egress"] == [] and policy(dev, "minio")["egress"] == []


def test_the_setup_job_reaches_minio_and_the_backup_both_stores(dev: ProgramRun) -> None:
    _, minio = policy(dev, "minio-setup")["egress"]
    assert selects(minio["to"][0]["podSelector"], dev.one(DEPLOYMENT, "mlflow-artifacts"))
    _, database, store = policy(dev, "backup")["egress"]
    assert selects(database["to"][0]["podSelector"], dev.one(STATEFULSET, "mlflow-postgres"))
    assert selects(store["to"][0]["podSelector"], dev.one(DEPLOYMENT, "mlflow-artifacts"))


def test_each_policy_selects_the_pods_it_names(dev: ProgramRun) -> None:
    assert selects(policy(dev, "server")["podSelector"], dev.one(DEPLOYMENT, "mlflow"))
    assert not selects(policy(dev, "server")["podSelector"], dev.one(JOB, "mlflow-migrate"))
    assert selects(policy(dev, "migration")["podSelector"], dev.one(JOB, "mlflow-migrate"))
    assert selects(policy(dev, "postgres")["podSelector"], dev.one(STATEFULSET, "mlflow-postgres"))
    assert selects(policy(dev, "minio")["podSelector"], dev.one(DEPLOYMENT, "mlflow-artifacts"))


def backup_pods(dev: ProgramRun) -> dict[str, Any]:
    labels: dict[str, Any] = dev.one(CRONJOB, "mlflow-postgres-backup").plain_inputs["spec"]["jobTemplate"]["spec"][
        "template"]["metadata"]["labels"]
    return labels


@pytest.fixture(scope="module")
def dev_monitored() -> ProgramRun:
    """dev with Monitoring's ServiceMonitors: only then is Prometheus admitted anywhere."""
    return run_program("dev", {**MONITORED})


def test_without_monitoring_nothing_admits_prometheus(dev: ProgramRun) -> None:
    """Nothing scrapes the server or the exporter without the ServiceMonitors: a pod labelled as Prometheus in the
    monitoring namespace reaches no port (with the auth app off it would be an admin on the API)."""
    for obj in dev.of_type(POLICY):
        for rule in obj.plain_inputs["spec"].get("ingress", []):
            assert PROMETHEUS_PEER not in rule.get("from", []), obj.name


def test_postgres_admits_only_the_server_the_migration_and_the_backup(dev_monitored: ProgramRun) -> None:
    dev = dev_monitored
    database_rule, exporter_rule = policy(dev, "postgres")["ingress"]
    clients = [peer["podSelector"] for peer in peers(database_rule)]
    assert database_rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert len(clients) == 3
    assert any(selects(c, dev.one(DEPLOYMENT, "mlflow")) for c in clients)
    assert any(selects(c, dev.one(JOB, "mlflow-migrate")) for c in clients)
    assert any(c["matchLabels"].items() <= backup_pods(dev).items() for c in clients)
    assert not any(selects(c, dev.one(DEPLOYMENT, "mlflow-artifacts")) for c in clients)
    assert exporter_rule["ports"] == [{"protocol": "TCP", "port": 9187}]


def test_minio_admits_only_the_server_its_setup_job_and_the_backup(dev: ProgramRun) -> None:
    (rule,) = policy(dev, "minio")["ingress"]
    clients = [peer["podSelector"] for peer in peers(rule)]
    assert rule["ports"] == [{"protocol": "TCP", "port": 9000}]
    assert any(selects(c, dev.one(DEPLOYMENT, "mlflow")) for c in clients)
    assert any(selects(c, dev.one(JOB, "mlflow-artifacts-setup")) for c in clients)
    assert any(c["matchLabels"].items() <= backup_pods(dev).items() for c in clients)
    assert len(clients) == 3


def in_namespaces(peer: dict[str, Any]) -> list[str]:
    (expression,) = peer["namespaceSelector"]["matchExpressions"]
    assert expression["key"] == "kubernetes.io/metadata.name" and expression["operator"] == "In"
    return list(expression["values"])


PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
PROMETHEUS_PEER = {"namespaceSelector": {"matchExpressions": [
    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"]}]},
                   "podSelector": {"matchLabels": PROMETHEUS}}
CLIENT = {"mlflow-platform/client": "true"}


def test_dev_server_admits_the_gateways_data_plane_and_labelled_clients_and_prometheus_on_the_api_port(
        dev_monitored: ProgramRun) -> None:
    """Dev has no oauth2-proxy: the Gateway's data plane (NGINX Gateway Fabric's, in nginx-gateway) proxies to the
    server. Without the auth app Prometheus scrapes /metrics on the API port itself."""
    api_rule, prometheus_rule = policy(dev_monitored, "server")["ingress"]
    ingress, client = peers(api_rule)
    assert in_namespaces(ingress) == ["nginx-gateway"] and "podSelector" not in ingress
    assert client == {"podSelector": {"matchLabels": CLIENT}}
    assert api_rule["ports"] == [{"protocol": "TCP", "port": 5000}]
    assert peers(prometheus_rule) == [PROMETHEUS_PEER] and prometheus_rule["ports"] == [{"protocol": "TCP", "port": 5000}]


def test_prod_server_admits_oauth2_proxy_and_labelled_clients_on_the_api_and_prometheus_only_on_the_sidecar(
        prod: ProgramRun) -> None:
    """Behind oauth2-proxy no namespace is admitted wholesale: every peer names its pods. The auth app answers 401 on
    /metrics, so Prometheus scrapes the metrics sidecar (9090) and never reaches the API (5000)."""
    api_rule, metrics_rule = policy(prod, "server")["ingress"]
    proxy, client = peers(api_rule)
    assert api_rule["ports"] == [{"protocol": "TCP", "port": 5000}]
    assert selects(proxy["podSelector"], prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))
    assert "namespaceSelector" not in proxy
    assert client == {"podSelector": {"matchLabels": CLIENT}}
    assert PROMETHEUS_PEER not in peers(api_rule)
    assert peers(metrics_rule) == [PROMETHEUS_PEER] and metrics_rule["ports"] == [{"protocol": "TCP", "port": 9090}]


def test_dev_server_reaches_only_dns_its_database_and_minio(dev: ProgramRun) -> None:
    spec = policy(dev, "server")
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    dns, database, store = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert selects(database["to"][0]["podSelector"], dev.one(STATEFULSET, "mlflow-postgres"))
    assert selects(store["to"][0]["podSelector"], dev.one(DEPLOYMENT, "mlflow-artifacts"))
    assert store["ports"] == [{"protocol": "TCP", "port": 9000}]


def test_https_egress_in_dev_is_a_choice() -> None:
    """The AI gateway and GenAI judges call their providers on 443: off in dev unless networkAllowHttpsEgress."""
    *_, https = policy(run_program("dev", {"networkAllowHttpsEgress": True}), "server")["egress"]
    assert https == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}


def test_client_namespaces_admit_only_their_labelled_pods() -> None:
    run = run_program("dev", {"networkClientNamespaces": ["training"]})
    (rule,) = policy(run, "server")["ingress"]
    other_namespaces = peers(rule)[-1]
    assert in_namespaces(other_namespaces) == ["training"]
    assert other_namespaces["podSelector"] == {"matchLabels": CLIENT}


def test_the_exporter_admits_only_prometheus(dev_monitored: ProgramRun) -> None:
    _, exporter_rule = policy(dev_monitored, "postgres")["ingress"]
    (peer,) = peers(exporter_rule)
    assert in_namespaces(peer) == ["monitoring"] and peer["podSelector"] == {"matchLabels": PROMETHEUS}


def test_prod_reaches_rds_only_in_the_vpc_and_s3_on_443_and_guards_oauth2_proxy(prod: ProgramRun) -> None:
    assert {r.name for r in prod.of_type(POLICY)} == {
        "mlflow-network-default-deny", "mlflow-network-server", "mlflow-network-jobs", "mlflow-network-migration",
        "mlflow-network-oauth2-proxy", "mlflow-network-clients"}
    _, database, https = policy(prod, "server")["egress"]
    # The cluster stack's vpcCidr (tests/harness.py CLUSTER_OUTPUTS).
    assert database == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    assert policy(prod, "migration")["egress"][1] == database
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    _, upstream, issuer = policy(prod, "oauth2-proxy")["egress"]
    assert selects(upstream["to"][0]["podSelector"], prod.one(DEPLOYMENT, "mlflow"))
    assert issuer == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    (rule,) = policy(prod, "oauth2-proxy")["ingress"]
    # The ALB sends to the pods (ip targets) from its subnets, in the VPC; a data plane in the cluster from its own.
    assert rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["nginx-gateway"]
    assert rule["from"][1] == {"ipBlock": {"cidr": "10.20.0.0/16"}}
    assert selects(policy(prod, "oauth2-proxy")["podSelector"], prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))


def test_can_be_turned_off() -> None:
    assert not run_program("prod", {**PROD_SECRETS, "networkPolicies": False,
                                    "allowDisabledNetworkPolicies": True}).of_type(POLICY)


def test_the_jobs_pod_is_admitted_and_guarded_like_the_server() -> None:
    run = run_program("dev", {"serverJobExecution": True, "postgresMaxConnections": 1100, **MONITORED})
    jobs = run.one(DEPLOYMENT, "mlflow-jobs")
    assert selects(policy(run, "jobs")["podSelector"], jobs)
    assert not selects(policy(run, "server")["podSelector"], jobs)
    # The server's callers on the API port; not Prometheus, which scrapes the server's Service only.
    api_rule, _prometheus_rule = policy(run, "server")["ingress"]
    assert policy(run, "jobs")["ingress"] == [api_rule]
    assert policy(run, "jobs")["egress"] == policy(run, "server")["egress"]
    for store in ("postgres", "minio"):
        assert any(selects(peer["podSelector"], jobs) for peer in peers(policy(run, store)["ingress"][0]))


def test_a_database_outside_the_cluster_needs_its_network() -> None:
    from settings import ConfigError

    overrides = {**PROD_SECRETS, "clusterStack": "", "oidcProviderArn": CLUSTER_OUTPUTS["oidcProviderArn"],
                 "oidcIssuerUrl": CLUSTER_OUTPUTS["oidcIssuerUrl"], "vpcId": "vpc-0123456789abcdef0",
                 "privateSubnetIds": ["subnet-0123456789abcdef0"], "nodeSecurityGroupId": "sg-0123456789abcdef0"}
    with pytest.raises(ConfigError, match="mlflow-platform:databaseCidr: is required for networkPolicies"):
        run_program("prod", overrides, preview=True, stack_references={})
    run = run_program("prod", {**overrides, "databaseCidr": "10.9.0.0/16"}, stack_references={})
    assert policy(run, "server")["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.9.0.0/16"}}]
    with pytest.raises(ConfigError, match=r"'0\.0\.0\.0/0' is everywhere"):
        run_program("prod", {**overrides, "databaseCidr": "0.0.0.0/0"}, preview=True, stack_references={})


# DNS: kube-system's CoreDNS only.

KUBE_DNS_RULE = {
    "to": [{"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system"]}]},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def test_every_pod_resolves_names_at_kube_systems_coredns_and_nowhere_else(each_stack: ProgramRun) -> None:
    """CoreDNS carries k8s-app: kube-dns in kube-system on kind (kubeadm's manifest) and on EKS (its CoreDNS add-on):
    namespace and label in one peer, so a pod of another namespace that copies the label is no resolver. Port 53 is
    open to nothing else, on UDP and TCP (answers over 512 bytes retry on TCP)."""
    for registration in each_stack.of_type(POLICY):
        egress = registration.plain_inputs["spec"].get("egress", [])
        to_53 = [rule for rule in egress if "ports" not in rule or any(p["port"] == 53 for p in rule["ports"])]
        assert to_53 == ([KUBE_DNS_RULE] if egress else []), registration.name


# Prometheus: exactly the ports its ServiceMonitors scrape.

def scraped_ports(run: ProgramRun) -> dict[str, set[int]]:
    """Each workload's container ports a ServiceMonitor scrapes: endpoint port name -> the selected Service's port
    -> its targetPort -> the container port of the pods the Service selects (prometheus-operator's resolution)."""
    scraped: dict[str, set[int]] = {w.name: set() for w in workloads(run)}
    for monitor in run.of_type(SERVICE_MONITOR):
        spec = monitor.plain_inputs["spec"]
        for service in run.of_type(SERVICE):
            if not spec["selector"]["matchLabels"].items() <= service.plain_inputs["metadata"]["labels"].items():
                continue
            targets = {p["name"]: p["targetPort"] for p in service.plain_inputs["spec"]["ports"]}
            for workload in workloads(run):
                if not service.plain_inputs["spec"]["selector"].items() <= pod_labels(workload).items():
                    continue
                named = {p["name"]: p["containerPort"] for c in pod_spec(workload)["containers"]
                         for p in c.get("ports", []) if "name" in p}
                for endpoint in spec["endpoints"]:
                    if endpoint["port"] in targets:
                        target = targets[endpoint["port"]]
                        scraped[workload.name].add(named[target] if isinstance(target, str) else target)
    return scraped


def prometheus_admitted_on(run: ProgramRun, workload: Registration) -> set[int | str]:
    """The ports of `workload` any of its policies opens to Prometheus' pods ("any" for a rule without ports)."""
    ports: set[int | str] = set()
    for registration in run.of_type(POLICY):
        spec = registration.plain_inputs["spec"]
        if spec["podSelector"] and not selects(spec["podSelector"], workload):
            continue
        for rule in spec["ingress"]:
            if not rule.get("from") or PROMETHEUS_PEER in rule["from"]:
                ports |= {p["port"] for p in rule["ports"]} if "ports" in rule else {"any"}
    return ports


@pytest.fixture(scope="module", params=["prod", "dev-monitored-with-jobs"])
def monitored(request: pytest.FixtureRequest, prod: ProgramRun) -> ProgramRun:
    """prod: the auth app, so the metrics sidecar; dev with monitoring on: /metrics on the API port, the PostgreSQL
    exporter, and the jobs pod, which no ServiceMonitor selects."""
    if request.param == "prod":
        return prod
    return run_program("dev", {**MONITORED, "serverJobExecution": True, "postgresMaxConnections": 1100})


def test_prometheus_is_admitted_exactly_on_the_ports_its_service_monitors_scrape(monitored: ProgramRun) -> None:
    scraped = scraped_ports(monitored)
    assert any(scraped.values())
    for workload in workloads(monitored):
        assert prometheus_admitted_on(monitored, workload) == scraped[workload.name], workload.name


def test_what_is_scraped_where(monitored: ProgramRun) -> None:
    """The cross-check above, spelled out: the sidecar's 9090 with the auth app, else the API's 5000; the exporter's
    9187; nothing on the jobs pod or any other pod."""
    scraped = {name: ports for name, ports in scraped_ports(monitored).items() if ports}
    if monitored.of_type(STATEFULSET):
        assert scraped == {"mlflow": {5000}, "mlflow-postgres": {9187}}
        assert prometheus_admitted_on(monitored, monitored.one(DEPLOYMENT, "mlflow-jobs")) == set()
    else:
        assert scraped == {"mlflow": {9090}}


# Egress to the internet: public addresses only where nothing legitimate is private.

NOT_PUBLIC = [
    "10.20.0.10",       # the VPC (the cluster stack's vpcCidr), its nodes and pods
    "172.20.0.10",      # RFC 1918 172.16/12 (an EKS Service CIDR)
    "192.168.1.1",      # RFC 1918 192.168/16
    "169.254.169.254",  # the instance metadata service (link-local)
    "100.64.0.10",      # RFC 6598 shared address space (EKS custom networking's pod subnets)
    "127.0.0.1",        # loopback
    "fd00:ec2::254",    # the metadata service over IPv6 (unique local fc00::/7)
    "fe80::1",          # IPv6 link-local
    "::1",              # IPv6 loopback
]
# Cloudflare's edge (region1/region2.v2.argotunnel.com, developers.cloudflare.com/tunnel/configuration/) and the
# public neighbours of each excluded range.
PUBLIC = ["198.41.192.167", "198.41.200.13", "11.0.0.1", "172.32.0.1", "192.169.0.1", "169.255.0.1", "100.128.0.1",
          "128.0.0.1"]


def admits(peers: list[dict[str, Any]], address: str) -> bool:
    """An ipBlock peer admits an address of its family inside its cidr and outside every `except`."""
    ip = ipaddress.ip_address(address)
    for block in (peer["ipBlock"] for peer in peers if "ipBlock" in peer):
        network = ipaddress.ip_network(block["cidr"])
        if ip.version == network.version and ip in network and \
                not any(ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])):
            return True
    return False


def test_cloudflared_reaches_cloudflares_edge_at_public_addresses_only() -> None:
    """cloudflared dials Cloudflare's edge (7844 UDP/TCP, 443): all public. Never the VPC, a node, another pod, the
    metadata service (its credentials) or loopback, on any port."""
    egress = policy(run_program("prod", CLOUDFLARE_FRONT_DOOR), "cloudflared")["egress"]
    dns, upstream, edge = egress
    assert dns == KUBE_DNS_RULE and "ipBlock" not in upstream["to"][0]
    assert edge["ports"] == [{"protocol": "UDP", "port": 7844}, {"protocol": "TCP", "port": 7844},
                             {"protocol": "TCP", "port": 443}]
    for address in NOT_PUBLIC:
        assert not any(admits(rule["to"], address) for rule in egress), address
    for address in PUBLIC:
        assert admits(edge["to"], address), address


def test_https_to_issuers_s3_and_sts_may_be_private(prod: ProgramRun) -> None:
    """A documented choice: oauth2-proxy's issuer (a Keycloak in the VPC, a corporate IdP over a VPN) and the server's
    S3, STS and token issuers (interface VPC endpoints answer at private addresses) may be private: their 443 is any
    address."""
    https: dict[str, Any] = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert https in policy(prod, "oauth2-proxy")["egress"] and https in policy(prod, "server")["egress"]
    assert admits(https["to"], "10.20.0.10")


def test_the_gc_job_reaches_both_stores_and_they_admit_it() -> None:
    run = run_program("dev", {"gcSchedule": "0 4 * * *"})
    gc_pods = run.one(CRONJOB, "mlflow-gc").plain_inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    spec = policy(run, "gc")
    assert spec["podSelector"]["matchLabels"].items() <= gc_pods.items() and spec["ingress"] == []
    _, database, store = spec["egress"]
    assert selects(database["to"][0]["podSelector"], run.one(STATEFULSET, "mlflow-postgres"))
    assert selects(store["to"][0]["podSelector"], run.one(DEPLOYMENT, "mlflow-artifacts"))
    for store_policy in ("postgres", "minio"):
        clients = [peer["podSelector"] for peer in peers(policy(run, store_policy)["ingress"][0])]
        assert any(c["matchLabels"].items() <= gc_pods.items() for c in clients), store_policy
