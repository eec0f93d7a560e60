"""What NetworkPolicies takes: the selectors and ports of every workload, and who may call the server."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    namespace: str
    server: dict[str, str]
    """Selector of the MLflow server pods."""
    migration: dict[str, str]
    server_port: int
    database_port: int | None
    """None: the database is a file on the server's volume (sqlite), and nothing connects to it."""
    object_store_port: int
    jobs: dict[str, str] | None = None
    """Selector of the jobs pod (the server with job execution on); None when there is none."""
    database: dict[str, str] | None = None
    """Selector of the in-cluster PostgreSQL pods; None when the database is outside the cluster."""
    database_cidr: object | None = None
    """Where an out-of-cluster database is reached on database_port (a CIDR, or an Output of one)."""
    https_egress: bool = False
    """The server and the jobs pod may reach any address on 443: S3 and STS, token issuers, LLM providers."""
    backup: dict[str, str] | None = None
    """Selector of the backup job's pods, a client of both stores."""
    database_clients: tuple[dict[str, str], ...] = ()
    """Besides the server and the migration: e.g. the backup job."""
    object_store: dict[str, str] | None = None
    """Selector of the MinIO pods; None for S3 (reached on 443)."""
    object_store_cidr: str | None = None
    """Where an object store outside the cluster (s3-compatible) is reached on object_store_port; the server and the
    jobs pod connect there."""
    object_store_setup: dict[str, str] | None = None
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
    prometheus: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "prometheus"})
    """Labels of the Prometheus pods (in monitoring_namespace) that scrape the server and the exporter."""
    ingress_namespace: str = "ingress-nginx"
    monitoring_namespace: str = "monitoring"
    client_namespaces: tuple[str, ...] = ()
