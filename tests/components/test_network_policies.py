"""NetworkPolicies: each data store admits only its clients; the server only its front door, Prometheus and clients."""

from typing import Any

import pytest

from conftest import CRONJOB, DEPLOYMENT, JOB, PROD_SECRETS, STATEFULSET
from harness import ProgramRun, Registration, run_program

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


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


def test_postgres_admits_only_the_server_the_migration_and_the_backup(dev: ProgramRun) -> None:
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
CLIENT = {"mlflow-platform/client": "true"}


def test_dev_server_admits_the_gateways_data_plane_prometheus_and_labelled_clients(dev: ProgramRun) -> None:
    """Dev has no oauth2-proxy: the Gateway's data plane (NGINX Gateway Fabric's, in nginx-gateway) proxies to the
    server."""
    (rule,) = policy(dev, "server")["ingress"]
    ingress, prometheus, client = peers(rule)
    assert in_namespaces(ingress) == ["nginx-gateway"] and "podSelector" not in ingress
    assert in_namespaces(prometheus) == ["monitoring"] and prometheus["podSelector"] == {"matchLabels": PROMETHEUS}
    assert client == {"podSelector": {"matchLabels": CLIENT}}
    assert rule["ports"] == [{"protocol": "TCP", "port": 5000}]


def test_prod_server_admits_exactly_oauth2_proxy_prometheus_and_labelled_clients(prod: ProgramRun) -> None:
    """Behind oauth2-proxy no namespace is admitted wholesale: every peer names its pods."""
    rule, metrics_rule = policy(prod, "server")["ingress"]
    proxy, prometheus, client = peers(rule)
    assert peers(metrics_rule) == [prometheus] and metrics_rule["ports"] == [{"protocol": "TCP", "port": 9090}]
    assert selects(proxy["podSelector"], prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))
    assert "namespaceSelector" not in proxy
    assert in_namespaces(prometheus) == ["monitoring"] and prometheus["podSelector"] == {"matchLabels": PROMETHEUS}
    assert client == {"podSelector": {"matchLabels": CLIENT}}
    assert all("podSelector" in peer for peer in peers(rule))


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


def test_the_exporter_admits_only_prometheus(dev: ProgramRun) -> None:
    _, exporter_rule = policy(dev, "postgres")["ingress"]
    (peer,) = peers(exporter_rule)
    assert in_namespaces(peer) == ["monitoring"] and peer["podSelector"] == {"matchLabels": PROMETHEUS}


def test_prod_reaches_rds_only_in_the_vpc_and_s3_on_443_and_guards_oauth2_proxy(prod: ProgramRun) -> None:
    assert {r.name for r in prod.of_type(POLICY)} == {
        "mlflow-network-default-deny", "mlflow-network-server", "mlflow-network-migration",
        "mlflow-network-oauth2-proxy", "mlflow-network-clients"}
    _, database, https = policy(prod, "server")["egress"]
    # The cluster stack's vpcCidr (tests/harness.py CLUSTER_OUTPUTS).
    assert database == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    assert policy(prod, "migration")["egress"][1] == database
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    _, upstream, issuer = policy(prod, "oauth2-proxy")["egress"]
    assert selects(upstream["to"][0]["podSelector"], prod.one(DEPLOYMENT, "mlflow"))
    assert issuer["ports"] == [{"protocol": "TCP", "port": 443}]
    (rule,) = policy(prod, "oauth2-proxy")["ingress"]
    # The ALB sends to the pods (ip targets) from its subnets, in the VPC; a data plane in the cluster from its own.
    assert rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["nginx-gateway"]
    assert rule["from"][1] == {"ipBlock": {"cidr": "10.20.0.0/16"}}
    assert selects(policy(prod, "oauth2-proxy")["podSelector"], prod.one(DEPLOYMENT, "mlflow-ingress-oauth2-proxy"))


def test_can_be_turned_off() -> None:
    assert not run_program("prod", {**PROD_SECRETS, "networkPolicies": False,
                                    "allowDisabledNetworkPolicies": True}).of_type(POLICY)


def test_the_jobs_pod_is_admitted_and_guarded_like_the_server() -> None:
    run = run_program("dev", {"serverJobExecution": True, "postgresMaxConnections": 1100})
    jobs = run.one(DEPLOYMENT, "mlflow-jobs")
    assert selects(policy(run, "jobs")["podSelector"], jobs)
    assert not selects(policy(run, "server")["podSelector"], jobs)
    assert policy(run, "jobs")["ingress"] == policy(run, "server")["ingress"]
    assert policy(run, "jobs")["egress"] == policy(run, "server")["egress"]
    for store in ("postgres", "minio"):
        assert any(selects(peer["podSelector"], jobs) for peer in peers(policy(run, store)["ingress"][0]))


def test_a_database_outside_the_cluster_needs_its_network() -> None:
    from settings import ConfigError

    overrides = {**PROD_SECRETS, "clusterStack": "", "oidcProviderArn": "arn:aws:iam::1:oidc-provider/x",
                 "oidcIssuerUrl": "https://x", "vpcId": "vpc-1", "privateSubnetIds": ["subnet-a"],
                 "nodeSecurityGroupId": "sg-1"}
    with pytest.raises(ConfigError, match="mlflow-platform:databaseCidr: is required for networkPolicies"):
        run_program("prod", overrides, preview=True, stack_references={})
    run = run_program("prod", {**overrides, "databaseCidr": "10.9.0.0/16"}, stack_references={})
    assert policy(run, "server")["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.9.0.0/16"}}]
    with pytest.raises(ConfigError, match=r"'0\.0\.0\.0/0' is everywhere"):
        run_program("prod", {**overrides, "databaseCidr": "0.0.0.0/0"}, preview=True, stack_references={})
