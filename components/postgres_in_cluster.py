"""The dev database: a single-replica PostgreSQL StatefulSet with its own volume."""

from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.database_endpoint import POSTGRES_PORT, DatabaseEndpoint
from components.env import secret_env
from components.hardening import container_security_context, empty_dir, pod_security_context
from components.labels import selector_labels, standard_labels
from components.resources import ResourceSpec
from components.versions import POSTGRES_UID

EXPORTER_PORT = 9187

if TYPE_CHECKING:
    from components.mlflow_postgres import MlflowPostgresArgs


def in_cluster_database(parent: pulumi.Resource, name: str, args: "MlflowPostgresArgs") -> DatabaseEndpoint:
    child = pulumi.ResourceOptions(parent=parent)
    labels = standard_labels("postgresql", name, "database")
    selector = selector_labels("postgresql", name, "database")
    metadata = {"namespace": args.namespace, "labels": labels}

    password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
    credentials = k8s.core.v1.Secret(
        f"{name}-credentials",
        metadata={**metadata, "name": f"{name}-credentials"},
        type="Opaque",
        string_data={"password": password.result},
        opts=child,
    )

    data_volume = k8s.core.v1.PersistentVolumeClaim(
        f"{name}-data",
        metadata={**metadata, "name": f"{name}-data"},
        spec={
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": args.storage_size}},
            **({"storageClassName": args.storage_class} if args.storage_class else {}),
        },
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=args.data_protection),
    )

    service = k8s.core.v1.Service(
        f"{name}-headless",
        metadata={**metadata, "name": name},
        spec={
            "clusterIP": "None",
            "selector": selector,
            "ports": [{"name": "postgresql", "port": POSTGRES_PORT, "targetPort": "postgresql"},
                      *([{"name": "metrics", "port": EXPORTER_PORT, "targetPort": "metrics"}] if args.metrics_exporter else [])],
        },
        opts=child,
    )

    exporter: list[dict[str, Any]] = []
    if args.metrics_exporter:
        # postgres_exporter as a sidecar: pg_up and connection counts for the alerts and the dashboard.
        exporter.append({
            "name": "metrics",
            "image": args.exporter_image,
            "env": [
                {"name": "DATA_SOURCE_URI", "value": f"127.0.0.1:{POSTGRES_PORT}/{args.database}?sslmode=disable"},
                {"name": "DATA_SOURCE_USER", "value": args.username},
                secret_env("DATA_SOURCE_PASS", credentials.metadata.name, "password"),
            ],
            "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT}],
            "resources": ResourceSpec("20m", "32Mi", "200m", "128Mi").to_kubernetes(),
            "securityContext": container_security_context(),
        })
    pg_isready = ["pg_isready", "--host=127.0.0.1", f"--username={args.username}", f"--dbname={args.database}"]
    statefulset = k8s.apps.v1.StatefulSet(
        name,
        metadata={**metadata, "name": name},
        spec={
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(POSTGRES_UID),
                    "terminationGracePeriodSeconds": 60,
                    "containers": [
                        {
                            "name": "postgresql",
                            "image": args.image,
                            # The image's entrypoint prepends `postgres` to arguments starting with '-'.
                            "args": ["-c", f"max_connections={args.max_connections}"],
                            "ports": [{"name": "postgresql", "containerPort": POSTGRES_PORT}],
                            "env": [
                                {"name": "POSTGRES_USER", "value": args.username},
                                {"name": "POSTGRES_DB", "value": args.database},
                                secret_env("POSTGRES_PASSWORD", credentials.metadata.name, "password"),
                                # A subdirectory: the volume root may hold lost+found, which initdb refuses.
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                            ],
                            "resources": args.resources.to_kubernetes(),
                            "securityContext": container_security_context(),
                            # During initdb the server listens on the socket only, so TCP
                            # pg_isready stays false until the database really accepts clients.
                            "startupProbe": {
                                "exec": {"command": pg_isready},
                                "periodSeconds": 5,
                                "failureThreshold": 60,
                            },
                            "readinessProbe": {
                                "exec": {"command": pg_isready},
                                "periodSeconds": 10,
                                "timeoutSeconds": 5,
                            },
                            "livenessProbe": {
                                "exec": {"command": pg_isready},
                                "periodSeconds": 20,
                                "timeoutSeconds": 5,
                                "failureThreshold": 6,
                            },
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        },
                        *exporter,
                    ],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": data_volume.metadata.name}},
                        empty_dir("run", "16Mi"),
                        empty_dir("tmp", "1Gi"),
                    ],
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[credentials]),
    )


    return DatabaseEndpoint(
        host=pulumi.Output.concat(service.metadata.name, ".", args.namespace, ".svc.cluster.local"),
        port=pulumi.Output.from_input(POSTGRES_PORT),
        password=password.result,
        ready=[statefulset],
        pod_selector=selector,
    )
