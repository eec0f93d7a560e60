"""Real local services for the runtime layer: PostgreSQL databases, moto's S3 server, and processes.

Everything binds to 127.0.0.1, and every process started is stopped at the end, even on failure.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import psycopg2
import requests

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL_VARIABLE = "MLFLOW_PLATFORM_TEST_POSTGRES_URL"


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """A process in its own session, so stopping it stops everything it spawned (uvicorn workers too)."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def signal_group(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = 15) -> int | None:
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(5)
        # Workers outlive a killed parent: make sure the whole group is gone.
        self.signal_group(signal.SIGKILL)
        self._log.close()
        return self.process.returncode


def wait_until_healthy(url: str, process: ManagedProcess, timeout: float, headers: dict[str, str] | None = None) -> float:
    """Seconds until `url` answers 200; fails with the process log if it dies or times out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not process.alive():
            raise RuntimeError(f"{process.argv[0]} exited with {process.process.returncode}:\n{process.log_tail()}")
        try:
            if requests.get(url, timeout=2, headers=headers).status_code == 200:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout}s:\n{process.log_tail()}")


def _execute(url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


@dataclass(frozen=True)
class PostgresServer:
    admin_url: str

    @classmethod
    def from_environment(cls) -> "PostgresServer":
        return cls(os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL))

    def unavailable_reason(self) -> str | None:
        try:
            psycopg2.connect(self.admin_url, connect_timeout=3).close()
        except psycopg2.OperationalError as err:
            return f"no PostgreSQL at {self.address} ({str(err).strip()}); set {POSTGRES_URL_VARIABLE}"
        return None

    @property
    def address(self) -> str:
        parts = urlsplit(self.admin_url)
        return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"

    @property
    def credentials(self) -> str:
        """user[:password]@ of the admin URL, reused for the test databases."""
        netloc = urlsplit(self.admin_url).netloc
        return netloc.rsplit("@", 1)[0] + "@" if "@" in netloc else ""

    def netloc_for(self, database: str) -> str:
        """user[:password]@host:port the platform's URIs use for `database` (the admin's own credentials)."""
        return self.credentials + self.address

    def url_for(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))

    def _admin(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return _execute(self.admin_url, sql, params)

    def create_database(self, prefix: str = "mlflow_rt") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", name)
        self._admin(f'DROP DATABASE IF EXISTS "{name}"')

    def connections_to(self, database: str) -> int:
        return int(self._admin("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", database)[0][0])

    def restore(self, dump: Path, database: str) -> None:
        """pg_restore of a custom-format dump into an empty database, as ops/restore-backup.sh runs it (the grants
        to the stack's roles restored with the tables)."""
        result = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error",
                                 f"--dbname={self.url_for(database)}", str(dump)], capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr

    def query(self, database: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """One statement in a transaction of its own (autocommit): what it writes stays."""
        return _execute(self.url_for(database), sql, params)


class S3Server:
    """moto's S3 server on a free loopback port, with IAM enforced once the bucket is set up."""

    REGION = "us-east-1"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        moto = Path(sys.executable).parent / "moto_server"
        self.process = ManagedProcess([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                      {**os.environ, "AWS_DEFAULT_REGION": self.REGION}, workdir / "moto.log")
        wait_until_healthy(f"{self.endpoint}/moto-api/", self.process, timeout=60)
        self.admin_key: tuple[str, str] = ("setup", "setup")

    def client(self, service: str, key: tuple[str, str] | None = None) -> Any:
        access, secret = key or self.admin_key
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.REGION,
                            aws_access_key_id=access, aws_secret_access_key=secret)

    def set_up_like_the_bucket_job(self, bucket: str, policy_json: str) -> tuple[str, str]:
        """What the ArtifactBucket Job does on MinIO: a versioned private bucket and a user scoped by its policy.

        Returns that user's keys; `enforcing_iam()` makes moto check requests against the policies.
        """
        iam = self.client("iam")
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        admin = iam.create_access_key(UserName="admin")["AccessKey"]
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.admin_key = (admin["AccessKeyId"], admin["SecretAccessKey"])
        return self.scoped_user("mlflow", f"{bucket}-readwrite", policy_json)

    def scoped_user(self, name: str, policy_name: str, policy_json: str) -> tuple[str, str]:
        """A user whose only policy is `policy_json` (the bucket Job's scoped_user); its keys."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=policy_json)
        user = iam.create_access_key(UserName=name)["AccessKey"]
        return user["AccessKeyId"], user["SecretAccessKey"]

    @contextmanager
    def enforcing_iam(self) -> Iterator[None]:
        """Check every request against IAM while inside. Not always on: moto's check cannot read presigned
        (query-string) signatures, which MLflow uses for artifact downloads and multipart parts."""
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        try:
            yield
        finally:
            requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.stop()


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb in a temp dir, loopback) that tests may restart or kill. Trust, or with
    `password` the postgres user's password and SCRAM on TCP: every role must then sign in with its own."""

    def __init__(self, password: str | None = None, settings: dict[str, str] | None = None) -> None:
        """`settings`: server parameters (postgresql.conf's) it starts with."""
        self.settings = settings or {}
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
        if not versions:
            raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = versions[-1].parent
        self.port = free_port()
        # Somewhere the postgres user can reach (pytest's tmp dirs are private to root).
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-rt-pg-", dir="/tmp"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.log = self.root / "log"
        auth = ["--auth=trust"]
        if password:
            (self.root / "pwfile").write_text(password)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={self.root / 'pwfile'}"]
        self._as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", *auth, "--no-sync"],
                       chown=True)
        self.start()
        user = f"postgres:{password}" if password else "postgres"
        self.server = PostgresServer(f"postgresql://{user}@127.0.0.1:{self.port}/postgres")

    def _as_owner(self, argv: list[str], chown: bool = False) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if chown:
                shutil.chown(self.root, "postgres", "postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run(prefix + argv, check=True, capture_output=True, timeout=120)

    def _ctl(self, *args: str) -> None:
        options = " ".join([f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off",
                            *(f"-c {key}={value}" for key, value in self.settings.items())])
        self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                        "-o", options, "-w", "-t", "60", *args])

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def ensure_running(self) -> None:
        with suppress(subprocess.CalledProcessError):  # pg_ctl start refuses a running server
            self.start()

    def halt(self) -> None:
        """The server down, its data kept (start() brings it back): a database outage."""
        self._ctl("stop", "-m", "immediate")

    def stop(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self.halt()
        shutil.rmtree(self.root, ignore_errors=True)


def session_pids(leader: int) -> list[int]:
    """Every process of the server's session (the wrapper, uvicorn's workers, anything they spawned)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader:  # the process group; ManagedProcess starts a new session
            pids.append(int(stat.parent.name))
    return pids
