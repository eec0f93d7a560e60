"""The dev platform, run locally: the declared migration Job and MLflow server against real services."""

import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic
from urllib.parse import urlsplit

from typing_extensions import TypeVar

from harness import ProgramRun
from runtime.generated import DeclaredContainer, LocalCluster, declared_container, with_address
from runtime.image_env import required_image_bin
from runtime.mariadb import MariaDBServer
from runtime.services import ManagedProcess, PostgresServer, S3Server, free_port, wait_until_healthy

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
SECRET = "kubernetes:core/v1:Secret"
CRONJOB = "kubernetes:batch/v1:CronJob"
URI_SECRET = ("mlflow-postgres-uri", "uri")
AUTH_SECRET = ("mlflow-auth", "database-uri")
ROLES_SECRET = "mlflow-postgres-roles"
OWNER_URIS = ((ROLES_SECRET, "owner-uri"), (ROLES_SECRET, "owner-auth-uri"))
CONFIGMAP = "kubernetes:core/v1:ConfigMap"


def projected_files(run: ProgramRun, volume: dict[str, Any], secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    """The files Kubernetes puts in a configMap or secret volume (the declared data; Secret values as the test set them)."""
    if "configMap" in volume:
        source = next(c for c in run.of_type(CONFIGMAP) if c.k8s_name == volume["configMap"]["name"])
        data = {key: str(value) for key, value in source.plain_inputs["data"].items()}
        items = volume["configMap"].get("items")
    elif "secret" in volume:
        name = volume["secret"]["secretName"]
        data = {key: value for (secret, key), value in secrets.items() if secret == name}
        items = volume["secret"].get("items")
    else:
        return {}
    return {item["path"]: data[item["key"]] for item in items} if items else data


# The database server: PostgreSQL, unless the stack's externalDatabaseEngine is mysql (Platform[MariaDBServer]); None
# when the database is a file on a declared volume (databaseMode sqlite: Platform[None]).
Server = TypeVar("Server", bound=PostgresServer | MariaDBServer | None, default=PostgresServer)


@dataclass
class Platform(Generic[Server]):
    """Local stand-ins for what the cluster provides, wired from what the program declares."""

    run: ProgramRun
    postgres: Server
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
        """Every container of the migration Job in order (init containers first), as the kubelet runs them;
        the result of the first that fails, else of the last."""
        pod = self.run.one(JOB, "mlflow-migrate").plain_inputs["spec"]["template"]["spec"]
        for spec in [*pod.get("initContainers", []), *pod["containers"]]:
            job = DeclaredContainer(spec["command"], spec.get("args", []), spec["env"], spec["volumeMounts"], {})
            result = run_declared(self.cluster, job, self.cluster.environment(job), timeout=300)
            if result.returncode != 0:
                break
        return result

    def revisions(self) -> dict[str, str | None]:
        """Where each database MLflow migrates stands: the tracking schema's alembic revision, and the auth app's
        when the stack has one (None: no version table, never migrated)."""
        assert self.postgres is not None, "a database server"
        databases = {"tracking": (self.database, "alembic_version")}
        if AUTH_SECRET in self.cluster.secrets:
            databases["auth"] = (f"{self.database}_auth", "alembic_version_auth")
        found: dict[str, str | None] = {}
        for schema, (database, table) in databases.items():
            try:
                rows = self.postgres.query(database, f"SELECT version_num FROM {table}")
            except Exception:  # no such database or table: nothing migrated it
                rows = []
            found[schema] = str(rows[0][0]) if rows else None
        return found

    def assert_migrated(self) -> None:
        """Every schema at the head of the pinned MLflow's migrations: what the Job must leave before a server starts
        (MLflow's server would otherwise create or upgrade what it finds missing, hiding a Job that did nothing)."""
        heads = mlflow_heads()
        found = self.revisions()
        assert found == {schema: heads[schema] for schema in found}, f"not at MLflow's head: {found} (heads {heads})"

    def timed_migrate(self) -> tuple[subprocess.CompletedProcess[str], float]:
        """migrate(), and how long it took in seconds (to a tenth)."""
        began = time.monotonic()
        result = self.migrate()
        return result, round(time.monotonic() - began, 1)

    def on_database(self, database: str) -> "Platform[Server]":
        """The same platform pointed at another database (e.g. one restored from a backup), and at its auth
        database `<database>_auth` when there is one."""
        assert self.postgres is not None, "a database server"
        # The local databases' names are random (create_database), so they name nothing else in the Secrets.
        secrets = {key: value.replace(f"/{self.database}", f"/{database}") for key, value in self.cluster.secrets.items()}
        return dataclasses.replace(self, database=database, cluster=dataclasses.replace(self.cluster, secrets=secrets))

    def _cronjob_container(self, cronjob: str, step: str) -> DeclaredContainer:
        pod = self.run.one(CRONJOB, cronjob).plain_inputs["spec"]["jobTemplate"]["spec"]["template"]
        spec = next(c for c in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
                    if c["name"] == step)
        return DeclaredContainer(spec["command"], spec.get("args", []), spec["env"], spec["volumeMounts"], {})

    def _backup_step(self, step: str, destination: Path) -> tuple[LocalCluster, DeclaredContainer]:
        """The backup CronJob's container `step` (dump, upload), its volumes at `destination`."""
        declared = self._cronjob_container("mlflow-postgres-backup", step)
        return dataclasses.replace(self.cluster, mounts={"/backup": destination, "/tmp": destination}), declared

    def artifact_keys(self, run_id: str) -> list[str]:
        """The bucket's keys of a run's artifacts, in whichever workspace."""
        listing = self.s3.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=self.prefix)
        return [item["Key"] for item in listing.get("Contents", []) if f"/{run_id}/" in item["Key"]]

    def backdate_deletion(self, days: int, run_ids: list[str], experiment_id: str | None = None) -> None:
        """What time does to deleted runs (and a deleted experiment): gc compares these times with now minus its
        --older-than."""
        assert self.postgres is not None, "a database server"
        shift = days * 86_400_000
        self.postgres.query(self.database, "UPDATE runs SET deleted_time = deleted_time - %s WHERE run_uuid = ANY(%s)",
                            shift, run_ids)
        if experiment_id:
            self.postgres.query(self.database, "UPDATE experiments SET last_update_time = last_update_time - %s "
                                "WHERE experiment_id = %s", shift, int(experiment_id))

    def gc(self) -> subprocess.CompletedProcess[str]:
        """The gc CronJob's container as declared, against this platform's database and bucket."""
        declared = self._cronjob_container("mlflow-gc", "gc")
        return run_declared(self.cluster, declared, self.cluster.environment(declared))

    def backup(self, destination: Path, as_owner: bool = False) -> subprocess.CompletedProcess[str]:
        """The backup CronJob's dump command, as declared, against this platform's database; `as_owner`: signed in
        as the owner instead of the backup role (a database no migration Job has granted yet)."""
        cluster, declared = self._backup_step("dump", destination)
        env = cluster.environment(declared)
        # What the cluster would resolve: the Service's address; the user and password are the declared role's.
        assert self.postgres is not None, "a database server"
        address = urlsplit(f"//{self.postgres.address}")
        env.update(PGHOST=str(address.hostname), PGPORT=str(address.port), PGDATABASE=self.database,
                   AUTH_PGDATABASE=f"{self.database}_auth")
        if as_owner:
            owner = urlsplit(self.cluster.secrets[OWNER_URIS[0]])
            env.update(PGUSER=owner.username or "", PGPASSWORD=owner.password or "")
        return run_declared(cluster, declared, env)

    def upload(self, dumps: Path) -> subprocess.CompletedProcess[str]:
        """The backup CronJob's upload command, as declared, with the write-only user's keys, to the S3 server."""
        cluster, declared = self._backup_step("upload", dumps)
        env = cluster.environment(declared)
        return run_declared(cluster, declared, env)

    def start_server(self, name: str = "server", port: int | None = None, wait: bool = True,
                     deployment: str = "mlflow", listen: str = "127.0.0.1") -> "RunningServer":
        """The server container of `deployment` as declared (the jobs Deployment runs one too), on loopback unless
        `listen` says otherwise."""
        declared = self.container(DEPLOYMENT, deployment)
        port = port or free_port()
        # The pod's own port, as the pod's processes reach it (the jobs pod's MLFLOW_GATEWAY_URI), is the local one.
        own = (f"//localhost:{declared.ports['http']}", f"//localhost:{port}")
        env = {"PATH": os.environ["PATH"],
               **{name: value.replace(*own) for name, value in self.cluster.environment(declared).items()}}
        # The container's /tmp is a volume; point Python's temp files at its local stand-in.
        env["TMPDIR"] = str(self.cluster.mounts["/tmp"])
        argv = self.cluster.argv(declared, env, port=port, host=listen)
        server = self._launch(name, port, argv, env, declared)
        return server.wait_healthy(timeout=180) if wait else server

    def start_plain_server(self, name: str, port: int | None = None, extra_args: tuple[str, ...] | list[str] = (),
                           bin_dir: Path | None = None) -> "RunningServer":
        """`mlflow server` as people run it from MLflow's docs (its defaults: 4 workers, the job runner), in the
        image's environment (or `bin_dir`'s: an older release), on this platform's database and bucket: the
        baseline the stack is compared with, and the server an upgrade starts from."""
        port = port or free_port()
        env = self.cluster.environment(self.container(DEPLOYMENT, "mlflow"))
        store = {k: env[k] for k in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                      "AWS_DEFAULT_REGION")}
        mlflow = (bin_dir or required_image_bin()) / "mlflow"
        # As the database's owner, as such an install runs: it creates the schema the stack then takes over.
        uri = self.cluster.secrets.get(OWNER_URIS[0], env["MLFLOW_BACKEND_STORE_URI"])
        argv = [str(mlflow), "server", "--backend-store-uri", uri,
                "--artifacts-destination", f"s3://{self.bucket}/{self.prefix}",
                "--host", "127.0.0.1", "--port", str(port), *extra_args]
        process_env = {"PATH": os.environ["PATH"], "HOME": str(self.workdir), **store}
        return self._launch(name, port, argv, process_env, self.container(DEPLOYMENT, "mlflow")).wait_healthy(300)

    def _launch(self, name: str, port: int, argv: list[str], env: dict[str, str],
                declared: DeclaredContainer) -> "RunningServer":
        process = ManagedProcess(argv, env, self.workdir / f"{name}.log")
        return RunningServer(f"http://127.0.0.1:{port}", port, argv, env, process, declared)


def start_metrics_sidecar(platform: Platform, server: "RunningServer") -> tuple[ManagedProcess, int]:
    """The server pod's `metrics` container as declared, on a free local port (returned); the server it asks for
    /health, on the pod's loopback, is the local one."""
    pod = platform.run.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["template"]["spec"]
    spec = next(c for c in pod["containers"] if c["name"] == "metrics")
    sidecar = DeclaredContainer(spec["command"], spec.get("args", []), spec["env"], spec["volumeMounts"], {})
    port = free_port()
    env = {"PATH": os.environ["PATH"], **platform.cluster.environment(sidecar), "METRICS_PORT": str(port)}
    env["SERVER_HEALTH_URL"] = env["SERVER_HEALTH_URL"].replace(f"//localhost:{server.declared_port}",
                                                                f"//127.0.0.1:{server.port}")
    process = ManagedProcess(platform.cluster.argv(sidecar, env), env, platform.workdir / "metrics-sidecar.log")
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/", process, timeout=60)
    except BaseException:
        process.stop()
        raise
    return process, port


def run_declared(cluster: LocalCluster, declared: DeclaredContainer, env: dict[str, str],
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """A Job's container run to completion here, with its environment (and this machine's PATH)."""
    return subprocess.run(cluster.argv(declared, env), env={"PATH": os.environ["PATH"], **env}, capture_output=True,
                          text=True, timeout=timeout)


def mlflow_heads() -> dict[str, str]:
    """The head revision of each of MLflow's migration trees (tracking, auth), from the pinned MLflow's scripts."""
    from alembic.script import ScriptDirectory
    from mlflow.server.auth.db.utils import _get_alembic_config as auth_config
    from mlflow.store.db.utils import _get_alembic_config as tracking_config

    return {schema: str(ScriptDirectory.from_config(config("sqlite://")).get_current_head())
            for schema, config in (("tracking", tracking_config), ("auth", auth_config))}


@dataclass
class RunningServer:
    url: str
    port: int
    argv: list[str]
    env: dict[str, str]
    process: ManagedProcess
    declared: DeclaredContainer
    startup_seconds: float = 0.0

    @property
    def declared_port(self) -> int:
        """The containerPort the Deployment declares (the local process listens elsewhere)."""
        return int(self.declared.ports["http"])

    def stop(self) -> int | None:
        return self.process.stop()

    def wait_healthy(self, timeout: float) -> "RunningServer":
        """Once the declared startup probe's path (/health, under a static prefix if any) answers (the time it took
        in startup_seconds); stopped if it never does."""
        path = self.declared.probes.get("startupProbe", {}).get("httpGet", {}).get("path", "/health")
        try:
            self.startup_seconds = wait_until_healthy(f"{self.url}{path}", self.process, timeout=timeout)
        except BaseException:
            self.process.stop()
            raise
        return self


@contextmanager
def stopping(server: "RunningServer") -> Iterator["RunningServer"]:
    """Stops the server when the block ends."""
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def migrated_server(run: ProgramRun, postgres: Server, workdir: Path,
                    name: str) -> Iterator[tuple[Platform[Server], "RunningServer"]]:
    """The declared migration Job run to completion, then the declared server started on it."""
    with local_platform(run, postgres, workdir) as platform:
        migrated = platform.migrate()
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        if postgres is not None:
            platform.assert_migrated()
        with stopping(platform.start_server(name)) as server:
            yield platform, server


def declared_secrets(run: ProgramRun) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> value, as the program declares them."""
    return {(secret.k8s_name, key): str(value) for secret in run.of_type(SECRET)
            for key, value in secret.plain_inputs.get("stringData", {}).items()}


def local_uris(secrets: dict[tuple[str, str], str], postgres: PostgresServer | MariaDBServer,
               database: str) -> dict[str, str]:
    """Each database URI the Secrets declare -> the same at the local server, in `database` (or its `_auth`). The
    owner's (the migration's) sign in as the local admin, as in-cluster the owner is the image's superuser; the
    roles' keep their user and password, so every other pod connects with only what the Job granted."""
    declared = [secrets[key] for key in (URI_SECRET, AUTH_SECRET, *OWNER_URIS) if key in secrets]
    owner = urlsplit(secrets.get(OWNER_URIS[0], secrets[URI_SECRET])).username
    local = {}
    for uri in declared:
        parts = urlsplit(uri)
        name = f"{database}_auth" if parts.path.endswith("_auth") else database
        user = parts.netloc.rsplit("@", 1)[0]
        local[uri] = with_address(uri, postgres.netloc_for(name) if parts.username == owner
                                  else f"{user}@{postgres.address}", name)
    return local


@contextmanager
def local_platform(run: ProgramRun, postgres: Server, workdir: Path) -> Iterator[Platform[Server]]:
    """Fresh database and S3 server set up the way the program's Jobs would; both removed afterwards. Without a
    database server (None), the database is a file on a volume the server mounts: its local directory (mounts)."""
    database = postgres.create_database() if postgres is not None else ""
    s3: S3Server | None = None
    try:
        s3 = S3Server(workdir)
        store = run.component_outputs[run.one("mlflow-platform:index:ArtifactBucket").urn]
        bucket = str(store["bucketName"])
        if "artifactBucketPolicy" in run.stack_outputs:
            # A store the team runs (s3-compatible): the team creates the bucket and a user with the exported policy.
            policy = str(run.stack_outputs["artifactBucketPolicy"])
        else:
            setup = declared_container(run, JOB, "mlflow-artifacts-setup").env
            setup_env = {e["name"]: e.get("value") for e in setup}
            assert setup_env["BUCKET"] == bucket
            policy = str(setup_env["POLICY_JSON"])
        keys = s3.set_up_like_the_bucket_job(bucket, policy)
        # The backup job's write-only user, with the policy the bucket Job gives it, its keys in the declared Secret.
        backup_user: dict[tuple[str, str], str] = {}
        if "artifactBucketPolicy" not in run.stack_outputs and setup_env.get("BACKUP_POLICY_JSON"):
            backup_keys = s3.scoped_user("backup", str(setup_env["BACKUP_POLICY_NAME"]),
                                         str(setup_env["BACKUP_POLICY_JSON"]))
            backup_secret = next(e["valueFrom"]["secretKeyRef"]["name"] for e in setup if e["name"] == "BACKUP_ACCESS_KEY")
            backup_user = {(backup_secret, "AWS_ACCESS_KEY_ID"): backup_keys[0],
                           (backup_secret, "AWS_SECRET_ACCESS_KEY"): backup_keys[1]}

        # Secret values the test controls: every declared Secret as declared, then the local credentials.
        secrets = declared_secrets(run)
        # Every URI a Secret holds (the tracking database's, the auth app's in its ini) points at the local server.
        local = local_uris(secrets, postgres, database) if postgres is not None else {}
        for key, value in secrets.items():
            for declared, replacement in local.items():
                value = value.replace(declared, replacement)
            secrets[key] = value
        # MinIO's generated Secret, or the one the team creates for its own store: the scoped user's keys either way.
        secrets[(str(store["credentialsSecretName"]), "AWS_ACCESS_KEY_ID")] = keys[0]
        secrets[(str(store["credentialsSecretName"]), "AWS_SECRET_ACCESS_KEY")] = keys[1]
        secrets.update(backup_user)

        minio = urlsplit(store["endpointUrl"])
        mounts = {}
        volumes = {v["name"]: v for v in run.one(DEPLOYMENT, "mlflow").plain_inputs["spec"]["template"]["spec"]["volumes"]}
        for mount in declared_container(run, DEPLOYMENT, "mlflow").volume_mounts:
            directory = workdir / "volumes" / mount["name"]
            directory.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"]] = directory
            for file_name, content in projected_files(run, volumes[mount["name"]], secrets).items():
                (directory / file_name).write_text(content)
        cluster = LocalCluster(secrets=secrets, addresses={minio.netloc: f"127.0.0.1:{s3.port}"}, mounts=mounts)
        yield Platform(run, postgres, database, s3, bucket, keys, cluster, workdir)
    finally:
        if s3 is not None:
            s3.stop()
        if postgres is not None:
            postgres.drop_database(database)
            postgres.drop_database(f"{database}_auth")
