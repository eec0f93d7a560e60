"""The dev platform, run locally: the declared migration Job and MLflow server against real services."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness import ProgramRun
from runtime.generated import DeclaredContainer, LocalCluster, declared_container, with_address
from runtime.services import ManagedProcess, PostgresServer, S3Server, free_port, wait_until_healthy

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
SECRET = "kubernetes:core/v1:Secret"


@dataclass
class Platform:
    """Local stand-ins for what the cluster provides, wired from what the program declares."""

    run: ProgramRun
    postgres: PostgresServer
    database: str
    s3: S3Server
    bucket: str
    mlflow_keys: tuple[str, str]
    cluster: LocalCluster
    workdir: Path

    @property
    def prefix(self) -> str:
        """The key prefix of MLflow's artifacts, from the server's declared --artifacts-destination."""
        args = self.container(DEPLOYMENT, "mlflow").args
        destination = urlsplit(args[args.index("--artifacts-destination") + 1])
        assert destination.netloc == self.bucket, destination
        return destination.path.lstrip("/")

    def container(self, type_token: str, name: str) -> DeclaredContainer:
        return declared_container(self.run, type_token, name)

    def migrate(self) -> subprocess.CompletedProcess[str]:
        job = self.container(JOB, "mlflow-migrate")
        env = self.cluster.environment(job)
        return subprocess.run(self.cluster.argv(job, env), env={"PATH": os.environ["PATH"], **env},
                              capture_output=True, text=True, timeout=300)

    def start_server(self, name: str = "server") -> "RunningServer":
        declared = self.container(DEPLOYMENT, "mlflow")
        port = free_port()
        env = {"PATH": os.environ["PATH"], **self.cluster.environment(declared)}
        # The container's /tmp is a volume; point Python's temp files at its local stand-in.
        env["TMPDIR"] = str(self.cluster.mounts["/tmp"])
        argv = self.cluster.argv(declared, env, port=port)
        process = ManagedProcess(argv, env, self.workdir / f"{name}.log")
        server = RunningServer(f"http://127.0.0.1:{port}", port, argv, env, process, declared)
        try:
            server.startup_seconds = wait_until_healthy(f"{server.url}/health", process, timeout=180)
        except BaseException:
            process.stop()
            raise
        return server


@dataclass
class RunningServer:
    url: str
    port: int
    argv: list[str]
    env: dict[str, str]
    process: ManagedProcess
    declared: DeclaredContainer
    startup_seconds: float = 0.0

    def stop(self) -> int | None:
        return self.process.stop()


@contextmanager
def local_platform(run: ProgramRun, postgres: PostgresServer, workdir: Path) -> Iterator[Platform]:
    """Fresh database and S3 server set up the way the program's Jobs would; both removed afterwards."""
    database = postgres.create_database()
    s3: S3Server | None = None
    try:
        s3 = S3Server(workdir)
        setup_env = {e["name"]: e.get("value") for e in declared_container(run, JOB, "mlflow-artifacts-setup").env}
        bucket = str(setup_env["BUCKET"])
        keys = s3.set_up_like_the_bucket_job(bucket, str(setup_env["POLICY_JSON"]))

        # Secret values the test controls: every declared Secret as declared, then the local credentials.
        secrets = {(secret.k8s_name, key): str(value) for secret in run.of_type(SECRET)
                   for key, value in secret.plain_inputs.get("stringData", {}).items()}
        uri_name = "mlflow-postgres-uri"
        secrets[(uri_name, "uri")] = with_address(secrets[(uri_name, "uri")], postgres.credentials + postgres.address, database)
        secrets[("mlflow-artifacts-mlflow-credentials", "AWS_ACCESS_KEY_ID")] = keys[0]
        secrets[("mlflow-artifacts-mlflow-credentials", "AWS_SECRET_ACCESS_KEY")] = keys[1]

        minio = urlsplit(run.component_outputs[run.one("mlflow-platform:index:ArtifactBucket").urn]["endpointUrl"])
        mounts = {}
        for mount in declared_container(run, DEPLOYMENT, "mlflow").volume_mounts:
            local = workdir / "volumes" / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"]] = local
        cluster = LocalCluster(secrets=secrets, addresses={minio.netloc: f"127.0.0.1:{s3.port}"}, mounts=mounts)
        yield Platform(run, postgres, database, s3, bucket, keys, cluster, workdir)
    finally:
        if s3 is not None:
            s3.stop()
        postgres.drop_database(database)
