"""The Host headers the server admits: MLflow's host check answers 403 to every other one.

MLflow 3.5+ matches the Host header against --allowed-hosts with fnmatch on every path but /health
and /version (mlflow/server/security_utils.py, is_allowed_host_header), and the list replaces its
defaults (localhost and private addresses). So it names every client of the cluster.
"""

import pulumi

from mlflow_platform.outputs import applied

# The pod's own IP, from the downward API: Prometheus scrapes each pod as `Host: <pod IP>:<port>`.
POD_IP_ENV = "POD_IP"
# Where `mlflow server` listens (--host). With job execution on, MLflow also points its job runner at it:
# MLFLOW_TRACKING_URI=http://<--host>:<--port> (mlflow/server/__init__.py _run_server), so the jobs' own calls
# arrive as `Host: 0.0.0.0:5000`.
LISTEN_ADDRESS = "0.0.0.0"


def allowed_hosts(service: str, namespace: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Host headers the server accepts: --allowed-hosts replaces MLflow's defaults, so list all.

    Names: localhost, every form of the Service's DNS name, and `extra` (e.g. the ingress host).
    Addresses: the pod's own IP (Prometheus, anything that dials the pod) via $(POD_IP), which the
    kubelet expands from the downward API. The ClusterIP is added by `with_address`.
    """
    names = ["localhost", "127.0.0.1", service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
             f"{service}.{namespace}.svc.cluster.local", *extra]
    return [host for name in names for host in (name, f"{name}:*")] + address_patterns(f"$({POD_IP_ENV})")


def address_patterns(address: str) -> list[str]:
    """fnmatch patterns MLflow matches a Host header of this IP against, with or without a port.

    An IPv6 Host header is bracketed (`[fd00::1]:5000`), and `[` opens a character class in fnmatch,
    so it is escaped as `[[]`. A literal IPv4 address needs no IPv6 form; $(POD_IP) may be either.
    """
    ipv4 = [address, f"{address}:*"]
    ipv6 = [f"[[]{address}]", f"[[]{address}]:*"]
    if address.startswith("$("):
        return ipv4 + ipv6
    return ipv6 if ":" in address else ipv4


def allowed_hosts_flag(service: str, namespace: pulumi.Input[str], extra: tuple[pulumi.Input[str], ...],
                       cluster_ip: pulumi.Input[str]) -> pulumi.Output[str]:
    """The --allowed-hosts value: allowed_hosts plus the Service's ClusterIP, for $<SERVICE>_SERVICE_HOST clients."""
    return applied(lambda ns, ip, *names: ",".join(allowed_hosts(service, ns, names)
                                                  + (address_patterns(ip) if ip and ip != "None" else [])),
                   namespace, cluster_ip, *extra)
