"""The prod database: an encrypted, backed-up, deletion-protected RDS PostgreSQL reachable only from the cluster."""

import re

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from mlflow_platform.mlflow_postgres.args import MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.endpoint import POSTGRES_PORT, DatabaseEndpoint, tls_query
from mlflow_platform.mlflow_postgres.tuning import rds_parameters


def rds_database(parent: pulumi.Resource, name: str, args: MlflowPostgresArgs) -> DatabaseEndpoint:
    assert args.rds is not None  # checked by MlflowPostgresArgs
    rds = args.rds
    child = pulumi.ResourceOptions(parent=parent)
    tags = dict(rds.tags)
    subnets = aws.rds.SubnetGroup(
        f"{name}-subnets", subnet_ids=rds.network.subnet_ids, description="MLflow PostgreSQL: private subnets",
        tags=tags, opts=child,
    )
    security_group = aws.ec2.SecurityGroup(
        f"{name}-sg", vpc_id=rds.network.vpc_id, description="MLflow PostgreSQL: 5432 from the cluster only",
        tags=tags, opts=child,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-from-cluster",
        security_group_id=security_group.id,
        referenced_security_group_id=rds.network.client_security_group_id,
        ip_protocol="tcp",
        from_port=POSTGRES_PORT,
        to_port=POSTGRES_PORT,
        description="PostgreSQL from the EKS cluster",
        opts=child,
    )
    parameters = aws.rds.ParameterGroup(
        f"{name}-params",
        family=f"postgres{rds.engine_version.split('.')[0]}",
        description="MLflow PostgreSQL: TLS only, sized connections, tuned for MLflow's queries",
        parameters=[
            {"name": "rds.force_ssl", "value": "1", "apply_method": "pending-reboot"},
            # Static parameters (max_connections) wait for a reboot; the others apply at once.
            *({"name": name, "value": value,
               "apply_method": "pending-reboot" if name == "max_connections" else "immediate"}
              for name, value in rds_parameters(args.max_connections).items()),
        ],
        tags=tags,
        opts=child,
    )
    password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
    instance = aws.rds.Instance(
        name,
        engine="postgres",
        engine_version=rds.engine_version,
        # A pinned version: minor upgrades happen when you change it, not behind your back.
        auto_minor_version_upgrade=False,
        instance_class=rds.instance_class,
        allocated_storage=rds.allocated_storage_gb,
        max_allocated_storage=rds.max_allocated_storage_gb,
        storage_type="gp3",
        storage_encrypted=rds.storage_encrypted,
        kms_key_id=rds.kms_key_arn,
        db_name=args.database,
        username=args.username,
        password=password.result,
        port=POSTGRES_PORT,
        db_subnet_group_name=subnets.name,
        vpc_security_group_ids=[security_group.id],
        parameter_group_name=parameters.name,
        multi_az=rds.multi_az,
        publicly_accessible=False,
        backup_retention_period=rds.backup_retention_days,
        deletion_protection=rds.deletion_protection,
        skip_final_snapshot=False,
        # Snapshot names are per account and region: the stack's name keeps two stacks' final snapshots apart.
        final_snapshot_identifier=final_snapshot_name(name, pulumi.get_project(), pulumi.get_stack()),
        copy_tags_to_snapshot=True,
        # Query-level load (7 days is the free retention) and PostgreSQL's own log in CloudWatch: what an
        # operator reads first when the server's database errors alert fires.
        performance_insights_enabled=True,
        performance_insights_retention_period=7,
        enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, protect=args.data_protection),
    )
    return DatabaseEndpoint(
        host=instance.address,
        port=instance.port,
        password=password.result,
        # Encrypted always (rds.force_ssl); verified against the RDS CA bundle when one is given.
        query=tls_query("verify-full" if args.ca_secret else "require", args.ca_secret),
        ready=[instance],
    )


def final_snapshot_name(name: str, project: str, stack: str) -> str:
    """An RDS snapshot identifier: letters, digits and single hyphens, starting with a letter, at most 255."""
    raw = re.sub(r"[^a-z0-9]+", "-", f"{name}-{project}-{stack}-final".lower()).strip("-")
    return ("s-" + raw if not raw[:1].isalpha() else raw)[:255].rstrip("-")

