"""MlflowServer: migrate once in a Job, then serve with a command line built from the stack's settings."""

import json
from typing import Any

import pytest

from conftest import (
    CRONJOB,
    DEPLOYMENT,
    HPA,
    JOB,
    PDB,
    PROD_SECRETS,
    RANDOM_PASSWORD,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    component,
    container,
    env_of,
    pod_spec,
)
from harness import ProgramRun, Registration, run_program
from mlflow_platform.mlflow_server import MlflowServerArgs
from mlflow_platform.mlflow_server.connection_budget import JOBS_POD_WORKERS
from mlflow_platform.mlflow_server.hosts import address_patterns, allowed_hosts
from mlflow_platform.versions import MLFLOW_IMAGE
from settings import ConfigError


def server_container(run: ProgramRun) -> dict[str, Any]:
    return container(run.one(DEPLOYMENT, "mlflow"), "mlflow")


def option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_declares_migration_job_deployment_service_and_service_account(dev: ProgramRun) -> None:
    server = component(dev, "MlflowServer")
    assert {(r.type, r.name) for r in dev.children_of(server)} == {
        (JOB, "mlflow-migrate"),
        (DEPLOYMENT, "mlflow"),
        (SERVICE, "mlflow"),
        (SERVICE_ACCOUNT, "mlflow"),
        (SERVICE_ACCOUNT, "mlflow-migration"),
        (SECRET, "mlflow-encryption-keys"),
        (RANDOM_PASSWORD, "mlflow-kek-passphrase"),
        ("random:index/randomBytes:RandomBytes", "mlflow-webhook-key"),
    }


class TestMlflowsEncryptionKeys:
    """Generated once, in one Secret every server pod reads: a gateway key or webhook secret one pod encrypted,
    another pod (or the same after a restart) decrypts (tests/runtime/test_encryption_keys.py runs it)."""

    def test_every_pod_that_serves_or_runs_jobs_reads_both_from_one_secret(self) -> None:
        run = run_program("dev", {"serverJobExecution": True, "postgresMaxConnections": 1100})
        for workload in (run.one(DEPLOYMENT, "mlflow"), run.one(DEPLOYMENT, "mlflow-jobs")):
            env = env_of(container(workload, "mlflow"))
            for variable, key in (("MLFLOW_CRYPTO_KEK_PASSPHRASE", "kek-passphrase"),
                                  ("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", "webhook-key")):
                assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-encryption-keys", "key": key}

    def test_the_webhook_key_is_a_fernet_key(self, dev: ProgramRun) -> None:
        from cryptography.fernet import Fernet

        key = dev.one(SECRET, "mlflow-encryption-keys").plain_inputs["stringData"]["webhook-key"]
        Fernet(key)  # raises unless 32 bytes of URL-safe base64
        assert "+" not in key and "/" not in key


class TestMigration:
    def job(self, run: ProgramRun) -> Registration:
        return run.one(JOB, "mlflow-migrate")

    def test_runs_mlflow_db_upgrade_with_the_uri_read_from_a_secret_inside_python(self, dev: ProgramRun) -> None:
        spec = pod_spec(self.job(dev))["initContainers"][0]
        assert spec["name"] == "migrate" and spec["image"] == MLFLOW_IMAGE
        # `mlflow db upgrade` takes the URL positionally: given as an argument it would be in argv
        # (tests/test_secrets.py), so MLflow's CLI is called from Python with it (tests/runtime run it).
        assert spec["command"][:2] == ["python", "-c"] and "args" not in spec
        assert "uri = os.environ['MLFLOW_BACKEND_STORE_URI']" in spec["command"][2]
        assert "cli.main(['db', 'upgrade', uri], prog_name='mlflow')" in spec["command"][2]
        # As the owner: the server's URI is the app role's, which may not create or alter a table.
        assert env_of(spec)["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
            "name": "mlflow-postgres-roles", "key": "owner-uri",
        }

    def test_the_roles_script_reads_the_variables_the_job_sets(self) -> None:
        """It runs on its own in the pod (python -c), so it names them itself."""
        from mlflow_platform.mlflow_server import mlflow_platform_db_roles as script
        from mlflow_platform.mlflow_server.auth import AUTH_DATABASE_ENV
        from mlflow_platform.mlflow_server.migration import BACKEND_URI_ENV

        assert (script.BACKEND_URI_ENV, script.AUTH_DATABASE_ENV) == (BACKEND_URI_ENV, AUTH_DATABASE_ENV)

    def test_grants_the_roles_last_as_the_owner_with_each_roles_password_from_the_secret(self, dev: ProgramRun) -> None:
        """After every migration, so the grants cover the tables it made (tests/runtime/test_database_roles.py runs
        it). Only this Job reads the roles Secret: no server, jobs or gc pod could connect as the owner."""
        pod = pod_spec(self.job(dev))
        (grant,) = pod["containers"]
        assert grant["name"] == "grant-roles" and grant["command"][:2] == ["python", "-c"]
        env = env_of(grant)
        assert json.loads(env["MLFLOW_PLATFORM_DATABASE_ROLES"]["value"]) == {"app": "mlflow_app",
                                                                               "backup": "mlflow_backup"}
        assert {name: entry["valueFrom"]["secretKeyRef"] for name, entry in env.items() if "valueFrom" in entry} == {
            "MLFLOW_BACKEND_STORE_URI": {"name": "mlflow-postgres-roles", "key": "owner-uri"},
            "MLFLOW_PLATFORM_APP_PASSWORD": {"name": "mlflow-postgres-roles", "key": "app-password"},
            "MLFLOW_PLATFORM_BACKUP_PASSWORD": {"name": "mlflow-postgres-roles", "key": "backup-password"},
        }
        readers = {(r.type, r.name) for r in dev.resources if "mlflow-postgres-roles" in json.dumps(r.plain_inputs)
                   and r.type != SECRET}
        # A new password (pulumi up --replace of its RandomPassword) replaces the Job, which sets it, then rolls the
        # server's pods, which read their URI at start.
        revision = self.job(dev).plain_inputs["spec"]["template"]["metadata"]["annotations"]
        server_pods = dev.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["template"]["metadata"]["annotations"]
        assert revision["mlflow-platform/database-roles"] == server_pods["mlflow-platform/database-roles"]
        assert len(revision["mlflow-platform/database-roles"]) == 16
        # The backup's CronJob reads its own role's password (and the exporter its own, when there is one).
        assert readers == {(JOB, "mlflow-migrate"), (CRONJOB, "mlflow-postgres-backup")}
        assert env_of(container(dev.one(DEPLOYMENT, "mlflow")))["MLFLOW_BACKEND_STORE_URI"]["valueFrom"][
            "secretKeyRef"] == {"name": "mlflow-postgres-uri", "key": "uri"}

    def test_runs_under_its_own_account_without_the_servers_s3_role(self, prod: ProgramRun) -> None:
        account = pod_spec(self.job(prod))["serviceAccountName"]
        assert account == "mlflow-migration"
        annotations = prod.one(SERVICE_ACCOUNT, "mlflow-migration").plain_inputs["metadata"].get("annotations") or {}
        assert "eks.amazonaws.com/role-arn" not in annotations
        assert "eks.amazonaws.com/role-arn" in prod.one(SERVICE_ACCOUNT, "mlflow").plain_inputs["metadata"]["annotations"]

    def test_every_server_deployment_waits_for_the_migration(self, dev: ProgramRun, prod: ProgramRun) -> None:
        """The API pods and the jobs pod alike (prod runs both): Pulumi creates a Deployment only once the Job it
        depends on completed (pulumi-kubernetes' Job await), so no server starts on an old or empty schema, which
        MLflow would create itself (tests/runtime/test_upgrades.py, test_server.py)."""
        assert self.job(dev).urn in dev.one(DEPLOYMENT, "mlflow").dependencies
        for deployment in ("mlflow", "mlflow-jobs"):
            assert self.job(prod).urn in prod.one(DEPLOYMENT, deployment).dependencies, deployment

    def test_no_container_of_the_deployment_migrates(self, dev: ProgramRun) -> None:
        spec = pod_spec(dev.one(DEPLOYMENT, "mlflow"))
        assert "initContainers" not in spec
        assert "upgrade" not in server_container(dev)["args"]

    def test_has_no_fixed_name_so_a_new_image_reruns_it(self, dev: ProgramRun) -> None:
        assert "name" not in self.job(dev).plain_inputs["metadata"]

    def test_a_new_image_changes_the_job_spec_so_pulumi_replaces_it(self) -> None:
        from harness import run_program

        upgraded = "ghcr.io/mlflow/mlflow:v3.18.0-full"
        run = run_program("dev", {"mlflowImage": upgraded})
        assert container(run.one(JOB, "mlflow-migrate"))["image"] == upgraded == server_container(run)["image"]


class TestServerCommand:
    def test_mlflow_is_the_main_process_in_exec_form(self, dev: ProgramRun) -> None:
        spec = server_container(dev)
        assert spec["image"] == MLFLOW_IMAGE
        assert spec["command"] == ["mlflow"]
        assert spec["args"][0] == "server"

    def test_listens_on_all_interfaces_port_5000_with_the_configured_workers(self, dev: ProgramRun) -> None:
        args = server_container(dev)["args"]
        assert option(args, "--host") == "0.0.0.0"
        assert option(args, "--port") == "5000"
        assert option(args, "--workers") == "2"

    def test_proxies_artifacts_to_the_bucket(self, dev: ProgramRun) -> None:
        args = server_container(dev)["args"]
        assert "--serve-artifacts" in args
        assert option(args, "--artifacts-destination") == "s3://mlflow-artifacts/mlflow/"

    def test_backend_uri_comes_from_the_secret_via_env(self, dev: ProgramRun) -> None:
        env = env_of(server_container(dev))
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-postgres-uri", "key": "uri"}
        assert not any("postgresql" in a for a in server_container(dev)["args"])

    def test_allowed_hosts_list_localhost_and_every_service_name(self, dev: ProgramRun) -> None:
        hosts = option(server_container(dev)["args"], "--allowed-hosts").split(",")
        for host in ("localhost", "localhost:*", "127.0.0.1:*", "mlflow", "mlflow:*", "mlflow.mlflow",
                     "mlflow.mlflow.svc", "mlflow.mlflow.svc.cluster.local", "mlflow.mlflow.svc.cluster.local:*"):
            assert host in hosts

    def test_allowed_hosts_admit_the_pods_own_ip_from_the_downward_api(self, dev: ProgramRun) -> None:
        """Prometheus and the kubelet send `Host: <pod IP>:<port>`; Kubernetes expands $(POD_IP) in args."""
        spec = server_container(dev)
        env = [entry["name"] for entry in spec["env"]]
        assert spec["env"][0] == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        assert env.index("POD_IP") == 0  # a $(VAR) reference expands only from variables defined before it
        hosts = option(spec["args"], "--allowed-hosts").split(",")
        assert {"$(POD_IP)", "$(POD_IP):*", "[[]$(POD_IP)]:*"} <= set(hosts)

    def test_allowed_hosts_admit_the_services_cluster_ip(self, dev: ProgramRun) -> None:
        cluster_ip = dev.one(SERVICE, "mlflow").plain_outputs["spec"]["clusterIP"]
        hosts = option(server_container(dev)["args"], "--allowed-hosts").split(",")
        assert {cluster_ip, f"{cluster_ip}:*"} <= set(hosts)

    def test_ipv6_addresses_are_escaped_for_fnmatch(self) -> None:
        assert address_patterns("fd00::a") == ["[[]fd00::a]", "[[]fd00::a]:*"]
        assert address_patterns("10.96.0.10") == ["10.96.0.10", "10.96.0.10:*"]

    def test_extra_allowed_hosts_are_allowed_with_any_port(self) -> None:
        hosts = allowed_hosts("mlflow", "ns", ("mlflow.example.com",))
        assert {"mlflow.example.com", "mlflow.example.com:*"} <= set(hosts)

    def test_refusing_overlong_values_is_a_choice_of_the_stack(self) -> None:
        strict = run_program("dev", {"serverRejectOverlongValues": True})
        assert env_of(server_container(strict))["MLFLOW_TRUNCATE_LONG_VALUES"]["value"] == "false"

    def test_job_runner_off_and_pools_explicit(self, dev: ProgramRun) -> None:
        env = env_of(server_container(dev))
        assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"
        assert env["MLFLOW_TRUNCATE_LONG_VALUES"]["value"] == "true"  # MLflow's own default
        assert env["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"]["value"] == "5"
        assert env["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"]["value"] == "36"
        assert env["MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE"]["value"] == "300"

    def test_reaches_minio_with_the_scoped_credentials(self, dev: ProgramRun) -> None:
        env = env_of(server_container(dev))
        assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://mlflow-artifacts.mlflow.svc.cluster.local:9000"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-artifacts-mlflow-credentials", "key": key}

    def test_metrics_are_exposed_on_a_writable_volume(self, dev: ProgramRun) -> None:
        spec = server_container(dev)
        metrics_dir = option(spec["args"], "--expose-prometheus")
        assert metrics_dir in {m["mountPath"] for m in spec["volumeMounts"]}



class TestPodSpec:
    def test_probes_target_the_named_port_and_readiness_touches_the_database(self, dev: ProgramRun) -> None:
        spec = server_container(dev)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert spec[probe]["httpGet"]["port"] == "http"
        assert spec["livenessProbe"]["httpGet"]["path"] == "/health"
        assert spec["readinessProbe"]["httpGet"]["path"].startswith("/api/2.0/mlflow/experiments/search")

    def test_pre_stop_sleep_lets_endpoints_drain(self, dev: ProgramRun) -> None:
        spec = server_container(dev)
        assert spec["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
        grace = pod_spec(dev.one(DEPLOYMENT, "mlflow"))["terminationGracePeriodSeconds"]
        assert grace > spec["lifecycle"]["preStop"]["sleep"]["seconds"]

    def test_tmp_is_a_size_limited_volume_for_proxied_uploads(self, dev: ProgramRun) -> None:
        volumes = {v["name"]: v for v in pod_spec(dev.one(DEPLOYMENT, "mlflow"))["volumes"]}
        assert volumes["tmp"]["emptyDir"]["sizeLimit"] == "2Gi"  # Pulumi.dev.yaml serverTmpSize
        assert {"name": "tmp", "mountPath": "/tmp"} in server_container(dev)["volumeMounts"]

    def test_hardened_security_context(self, dev: ProgramRun) -> None:
        pod = pod_spec(dev.one(DEPLOYMENT, "mlflow"))
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        ctx = server_container(dev)["securityContext"]
        assert ctx == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }

    def test_service_account_token_is_not_mounted(self, dev: ProgramRun) -> None:
        assert dev.one(SERVICE_ACCOUNT, "mlflow").plain_inputs["automountServiceAccountToken"] is False
        pod = pod_spec(dev.one(DEPLOYMENT, "mlflow"))
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == "mlflow"

    def test_requests_and_limits_from_config(self, dev: ProgramRun) -> None:
        assert server_container(dev)["resources"] == {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        }

    def test_rollout_never_drops_below_the_desired_count(self, dev: ProgramRun) -> None:
        strategy = dev.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["strategy"]
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0


class TestScaling:
    def test_single_replica_dev_has_no_pdb_or_hpa(self, dev: ProgramRun) -> None:
        assert dev.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["replicas"] == 1
        assert not dev.of_type(PDB) and not dev.of_type(HPA)

    def test_prod_has_pdb_and_hpa_and_leaves_replicas_to_the_hpa(self, prod: ProgramRun) -> None:
        assert prod.one(PDB, "mlflow").plain_inputs["spec"]["maxUnavailable"] == 1
        hpa = prod.one(HPA, "mlflow").plain_inputs["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 3)  # Pulumi.prod.yaml: 2 workers each, under the RDS budget
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mlflow"}
        assert "replicas" not in prod.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]

    def test_pods_spread_across_nodes(self, prod: ProgramRun) -> None:
        spread = pod_spec(prod.one(DEPLOYMENT, "mlflow"))["topologySpreadConstraints"][0]
        assert spread["topologyKey"] == "kubernetes.io/hostname"


def test_service_exposes_port_5000_inside_the_cluster(dev: ProgramRun) -> None:
    spec = dev.one(SERVICE, "mlflow").plain_inputs["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "http", "port": 5000, "targetPort": "http"}]
    assert spec["selector"] == dev.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["selector"]["matchLabels"]


def test_outputs(dev: ProgramRun) -> None:
    labels = {"app.kubernetes.io/instance": "mlflow", "app.kubernetes.io/name": "mlflow"}
    assert dev.component_outputs[component(dev, "MlflowServer").urn] == {
        "serviceName": "mlflow",
        "serviceAccountName": "mlflow",
        "trackingUri": "http://mlflow.mlflow.svc.cluster.local:5000",
        "port": 5000,
        # Dev's Prometheus scrapes the server's own port; no sidecar, no jobs pod.
        "metricsPortName": "http",
        "selector": {**labels, "app.kubernetes.io/component": "tracking-server"},
        "migrationSelector": {**labels, "app.kubernetes.io/component": "migration"},
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("replicas", 0, "replicas must be at least 1"),
        ("max_overflow", 0, "MLflow treats 0 as unset"),
        ("max_overflow", 35, r"pool 5 \+ overflow 35 = 40 connections per engine; at least 41 are needed"),
        ("image", "mlflow:latest", "floating tag"),
        ("tmp_size_limit", "huge", "not a Kubernetes quantity"),
    ],
)
def test_args_refuse_invalid_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MlflowServerArgs(namespace="mlflow", backend_uri_secret_name="s", artifacts_destination="s3://b/",
                         **{field: value})  # type: ignore[arg-type]


JOBS = {"serverJobExecution": True, "postgresMaxConnections": 1100}  # 2 x 166 + 658 jobs pod + 2 = 992 needed


class TestTheJobsPod:
    """serverJobExecution: MLflow's job runner in one dedicated pod; the API pods never run one."""

    @pytest.fixture(scope="class")
    def jobs(self) -> ProgramRun:
        return run_program("dev", {**JOBS, "serverReplicas": 2, "postgresMaxConnections": 1200})

    def test_api_pods_never_run_jobs(self, jobs: ProgramRun, dev: ProgramRun) -> None:
        for run in (jobs, dev):
            assert env_of(server_container(run))["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"
        assert not [r for r in dev.of_type(DEPLOYMENT) if r.name == "mlflow-jobs"]

    def test_one_pod_replaced_never_surged_runs_them(self, jobs: ProgramRun) -> None:
        """Two runners would each schedule online scoring (MLFLOW_SERVER_JOB_ENABLE_PERIODIC_TASKS: one instance)."""
        workload = jobs.one(DEPLOYMENT, "mlflow-jobs")
        spec = workload.plain_inputs["spec"]
        assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
        assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == "jobs"
        env = env_of(container(workload, "mlflow"))
        assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "true"
        assert env["MLFLOW_GATEWAY_URI"]["value"] == "http://localhost:5000"
        shm = next(v for v in pod_spec(workload)["volumes"] if v["name"] == "shm")
        assert shm["emptyDir"] == {"sizeLimit": "256Mi", "medium": "Memory"}
        assert {"name": "shm", "mountPath": "/dev/shm"} in container(workload, "mlflow")["volumeMounts"]
        assert container(workload, "mlflow")["resources"]["limits"]["memory"] == "4Gi"

    def test_it_runs_the_one_worker_the_connection_budget_counts(self, jobs: ProgramRun) -> None:
        """serverWorkers sizes the API pods; the jobs pod's pools and memory are counted with one worker (issue 28:
        it ran serverWorkers, 82 connections and ~200 MiB per worker more than the budget and its sizing say)."""
        assert option(container(jobs.one(DEPLOYMENT, "mlflow-jobs"), "mlflow")["args"], "--workers") == str(JOBS_POD_WORKERS)
        assert option(server_container(jobs)["args"], "--workers") == "2"

    def test_its_service_and_host_names(self, jobs: ProgramRun) -> None:
        service = jobs.one(SERVICE, "mlflow-jobs").plain_inputs["spec"]
        assert service["selector"]["app.kubernetes.io/component"] == "jobs"
        hosts = option(container(jobs.one(DEPLOYMENT, "mlflow-jobs"), "mlflow")["args"], "--allowed-hosts")
        assert "mlflow-jobs.mlflow.svc.cluster.local" in hosts.split(",")
        # The API Service never selects the jobs pod.
        assert jobs.one(SERVICE, "mlflow").plain_inputs["spec"]["selector"]["app.kubernetes.io/component"] == \
            "tracking-server"

    def test_the_connection_budget_counts_the_jobs_pod(self) -> None:
        with pytest.raises(Exception, match="658 jobs pod") as refused:
            run_program("dev", {**JOBS, "postgresMaxConnections": 700}, preview=True)
        assert ("(1 + 1 during a rollout) pod(s) x (2 workers x 2 engines x (pool 5 + overflow 36) + 2 wrapper) + "
                "658 jobs pod") in str(refused.value)
        assert "= 992 connections" in str(refused.value)


class TestGarbageCollection:
    """gcSchedule: `mlflow gc` in a CronJob of its own (run as declared by tests/runtime/test_gc.py and test_teams.py)."""

    @pytest.fixture(scope="class")
    def gc(self) -> ProgramRun:
        return run_program("dev", {"gcSchedule": "0 4 * * 0", "gcOlderThan": "14d"})

    def spec(self, run: ProgramRun) -> dict[str, Any]:
        return dict(run.one(CRONJOB, "mlflow-gc").plain_inputs["spec"])

    def test_off_unless_scheduled_deleted_runs_stay_restorable(self, dev: ProgramRun, prod: ProgramRun) -> None:
        for run in (dev, prod):
            assert not [c for c in run.of_type(CRONJOB) if c.name == "mlflow-gc"]

    def test_runs_mlflow_gc_with_the_retention_and_the_uri_read_from_a_secret_inside_python(self, gc: ProgramRun) -> None:
        spec = self.spec(gc)
        assert (spec["schedule"], spec["concurrencyPolicy"]) == ("0 4 * * 0", "Forbid")
        (job,) = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert job["image"] == MLFLOW_IMAGE and job["command"][:2] == ["python", "-c"]
        assert "cli.main(['gc', '--backend-store-uri', uri" in job["command"][2]
        env = env_of(job)
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-postgres-uri", "key": "uri"}
        assert env["MLFLOW_PLATFORM_GC_OLDER_THAN"]["value"] == "14d"
        assert env["MLFLOW_PLATFORM_GC_ALL_WORKSPACES"]["value"] == "false"
        server_args = container(gc.one(DEPLOYMENT, "mlflow"))["args"]
        destination = server_args[server_args.index("--artifacts-destination") + 1]
        assert env["MLFLOW_PLATFORM_ARTIFACTS_DESTINATION"]["value"] == destination

    def test_with_teams_every_workspace_and_in_prod_the_servers_role(self) -> None:
        """The server's ServiceAccount: its IRSA role reaches the bucket (and MLflow's own delete through the
        server needs the same s3:DeleteObject)."""
        prod = run_program("prod", {**PROD_SECRETS, "gcSchedule": "0 4 * * *",
                                    "authWorkspaces": {"vision": {"members": ["group:vision"]}}})
        pod = self.spec(prod)["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "mlflow"
        assert env_of(pod["containers"][0])["MLFLOW_PLATFORM_GC_ALL_WORKSPACES"]["value"] == "true"

    def test_its_connections_are_in_the_budget(self) -> None:
        """The in-cluster default of 400 holds dev's budget; 3 more for gc are counted where they would not fit."""
        with pytest.raises(ConfigError, match="3 gc"):
            run_program("dev", {"gcSchedule": "0 4 * * *", "serverReplicas": 3, "postgresMaxConnections": 20})
