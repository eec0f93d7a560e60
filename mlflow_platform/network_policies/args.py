"""What NetworkPolicies takes: the selectors and ports of every workload, and who may call the server."""

from dataclasses import dataclass, field

import pulumi

from mlflow_platform.validation import cidr_problem, dns_label_problem, input_problem, refuse


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    """What NetworkPolicies takes: every workload's selector and port, and who may call the server.

    The namespace and the CIDRs accept other resources' outputs (checked when they resolve); selectors and ports
    must be known at preview: they are the policies' structure (the components' own selectors are).
    """

    namespace: pulumi.Input[str]
    """The platform's namespace: its default deny and every policy here go there."""
    server: dict[str, str]
    """Selector of the MLflow server pods."""
    migration: dict[str, str]
    """Selector of the migration Job's pods."""
    server_port: int
    """The MLflow server's port."""
    database_port: int | None
    """None: the database is a file on the server's volume (sqlite), and nothing connects to it."""
    object_store_port: int
    """MinIO's API port, or the S3-compatible store's."""
    jobs: dict[str, str] | None = None
    """Selector of the jobs pod (the server with job execution on); None when there is none."""
    database: dict[str, str] | None = None
    """Selector of the in-cluster PostgreSQL pods; None when the database is outside the cluster."""
    database_cidr: pulumi.Input[str] | None = None
    """Where an out-of-cluster database is reached on database_port (a CIDR, or an Output of one)."""
    pooler: dict[str, str] | None = None
    """Selector of the connection pooler's pods (MlflowPostgres.pooler_selector): the server, the jobs pod and gc then
    reach the database through it only; the migration and the backup still connect to the database itself."""
    pooler_port: int | None = None
    """The pooler's port (MlflowPostgres.pooler_port)."""
    https_egress: bool = False
    """The server and the jobs pod may reach any address on 443: S3 and STS, token issuers, LLM providers."""
    backup: dict[str, str] | None = None
    """Selector of the backup job's pods, a client of both stores."""
    gc: dict[str, str] | None = None
    """Selector of the gc job's pods, a client of both stores (the bucket wherever it is: S3 and STS on 443)."""
    database_clients: tuple[dict[str, str], ...] = ()
    """Besides the server and the migration: e.g. the backup job."""
    object_store: dict[str, str] | None = None
    """Selector of the MinIO pods; None for S3 (reached on 443)."""
    object_store_cidr: pulumi.Input[str] | None = None
    """Where an object store outside the cluster (s3-compatible) is reached on object_store_port; the server and the
    jobs pod connect there."""
    object_store_setup: dict[str, str] | None = None
    """Selector of MinIO's setup Job pods."""
    object_store_clients: tuple[dict[str, str], ...] = ()
    """Besides the server and the setup job: e.g. the backup job."""
    server_metrics_port: int | None = None
    """A port on the server pods that only Prometheus may reach (the metrics sidecar)."""
    oauth2_proxy: dict[str, str] | None = None
    """Selector of the front door's pods (oauth2-proxy, or cloudflared): with it the server admits no namespace
    wholesale."""
    oauth2_proxy_port: int | None = 4180
    """The front door's own port, open to the ingress controller; None (cloudflared) admits nobody."""
    front_door_name: str = "oauth2-proxy"
    """Names the front door's policies (oauth2-proxy or cloudflared)."""
    prometheus: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "prometheus"})
    """Labels of the Prometheus pods (in monitoring_namespace) that scrape the server and the exporter."""
    scraped: bool = True
    """Whether Prometheus scrapes the server and the exporter (Monitoring's ServiceMonitors exist): without them
    nothing admits Prometheus at all."""
    ingress_namespace: str = "nginx-gateway"
    """Where the Gateway's data plane or the ingress controller runs: it may reach the front door."""
    ingress_cidr: pulumi.Input[str] | None = None
    """Where a load balancer outside the cluster sends to the front door's pods from (an ALB's ip targets: the VPC)."""
    monitoring_namespace: str = "monitoring"
    """Where Prometheus runs."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces whose pods labelled mlflow-platform/client: "true" may call the server."""

    def __post_init__(self) -> None:
        owner = "NetworkPoliciesArgs"
        refuse(
            owner,
            input_problem(owner, self, "namespace", dns_label_problem),
            input_problem(owner, self, "database_cidr", cidr_problem),
            input_problem(owner, self, "object_store_cidr", cidr_problem),
            input_problem(owner, self, "ingress_cidr", cidr_problem),
            None if self.database_port is None or self.database or self.database_cidr is not None
            else "a database outside the cluster needs database_cidr",
            None if (self.pooler is None) == (self.pooler_port is None) else "pooler and pooler_port go together",
        )
