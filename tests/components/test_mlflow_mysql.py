"""MySQL/MariaDB as the external database (externalDatabaseEngine mysql): the URI MLflow reads, its TLS parameters
as the image's driver understands them, the egress port, the connection budget, and what is refused at preview."""

import ssl
from importlib.metadata import version
from typing import Any
from urllib.parse import quote

import certifi
import pymysql  # type: ignore[import-untyped]
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from conftest import PROD_SECRETS, SECRET
from harness import ProgramRun, is_secret, run_program
from mlflow_platform.mlflow_postgres import ExternalDatabase, MlflowPostgresArgs
from mlflow_platform.mlflow_postgres.endpoint import DATABASE_CA_DIR, DATABASE_CA_KEY, database_uri, tls_query
from mlflow_platform.mlflow_postgres.engines import DRIVERS, MYSQL_TLS
from settings import ConfigError
from settings.database import SSL_MODES

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# Prod without MLflow's auth app, which MySQL cannot hold (TestRefused), the risk accepted by its opt-in.
MYSQL = {"databaseMode": "external", "externalDatabaseEngine": "mysql", "externalDatabaseHost": "mysql.internal.example.com",
         "externalDatabasePassword": {"secure": "v1:encrypted"}, "authEnabled": False, "allowEveryUserAsAdmin": True}
PASSWORD = "placeholder-for-mlflow-platform:externalDatabasePassword"


def run_prod(overrides: dict[str, Any]) -> ProgramRun:
    return run_program("prod", {**PROD_SECRETS, **MYSQL, **overrides})


def refusal(stack: str, overrides: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        run_program(stack, {**(PROD_SECRETS if stack == "prod" else {}), **overrides}, preview=True)
    return str(caught.value)


def uri_of(run: ProgramRun) -> URL:
    secret = run.one(SECRET, "mlflow-postgres-uri")
    assert is_secret(secret.inputs["stringData"])
    return make_url(secret.plain_inputs["stringData"]["uri"])


def database_egress(run: ProgramRun, policy: str) -> list[dict[str, Any]]:
    """The ports of the rule that lets `policy`'s pods reach the database's network (the cluster stack's vpcCidr)."""
    rules = next(p for p in run.of_type(POLICY) if p.name == f"mlflow-network-{policy}").plain_inputs["spec"]["egress"]
    (rule,) = [r for r in rules if r.get("to") == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]]
    ports: list[dict[str, Any]] = rule["ports"]
    return ports


@pytest.fixture(scope="module")
def mysql_prod() -> ProgramRun:
    """Prod on an external MySQL, verified TLS (its CA in a Secret)."""
    return run_prod({"externalDatabaseSslMode": "verify-full", "databaseCaSecret": "mysql-ca",
                     "allowUnverifiedDatabaseTls": False})


class TestUri:
    def test_pymysql_on_port_3306_with_the_password_kept_secret(self, mysql_prod: ProgramRun) -> None:
        uri = uri_of(mysql_prod)
        assert (uri.drivername, uri.username, uri.password, uri.host, uri.port, uri.database) == (
            "mysql+pymysql", "mlflow", PASSWORD, "mysql.internal.example.com", 3306, "mlflow")
        assert dict(uri.query) == {"ssl_ca": f"{DATABASE_CA_DIR}/{DATABASE_CA_KEY}", "ssl_check_hostname": "true"}
        for resource in mysql_prod.resources:
            state = " ".join(resource.plaintext_state())
            assert PASSWORD not in state and quote(PASSWORD, safe="") not in state, resource.name

    def test_a_password_with_uri_metacharacters_stays_one_password(self) -> None:
        parsed = make_url(database_uri("mlflow", "p@ss:w/rd?#1 %", "db.example.com", 3306, "mlflow",
                                       tls_query("require", None, "mysql"), DRIVERS["mysql"]))
        assert (parsed.drivername, parsed.password, parsed.host, parsed.database) == (
            "mysql+pymysql", "p@ss:w/rd?#1 %", "db.example.com", "mlflow")

    def test_an_explicit_port_is_kept_and_postgresql_keeps_5432(self) -> None:
        assert uri_of(run_prod({"externalDatabasePort": 3307})).port == 3307
        assert uri_of(run_prod({"externalDatabaseEngine": "postgresql"})).port == 5432


class TestTls:
    """Each sslmode through the code that reads it in the image: SQLAlchemy's mysql+pymysql dialect turns the URL
    into PyMySQL's arguments (dialects/mysql/mysqldb.py create_connect_args), and PyMySQL 1.2.4 builds its TLS
    context from them (connections.py Connection.__init__, _create_ssl_ctx). Nothing connects (defer_connect)."""

    @staticmethod
    def connection(ssl_mode: str) -> pymysql.connections.Connection:
        query = tls_query(ssl_mode, "mysql-ca", "mysql")
        if "ssl_ca" in query:  # the mounted CA bundle's path, here a bundle that exists
            query["ssl_ca"] = certifi.where()
        url = URL.create("mysql+pymysql", username="mlflow", password="pw", host="db.example.com", port=3306,
                         database="mlflow", query=query)
        _, kwargs = create_engine(url).dialect.create_connect_args(url)
        return pymysql.connections.Connection(defer_connect=True, **kwargs)

    def test_the_drivers_are_the_images(self) -> None:
        """What mlflow[db] resolves to in 3.17.2's image (its environment: make image-env); PyMySQL before 1.2 had
        no PREFERRED mode, so a change here is a change of what each sslmode means."""
        assert (version("pymysql"), version("sqlalchemy")) == ("1.2.4", "2.1.9")

    def test_disable_never_tries_tls(self) -> None:
        assert self.connection("disable").ssl is False

    def test_prefer_tries_tls_and_may_fall_back(self) -> None:
        connection = self.connection("prefer")
        assert connection.ssl is True and connection._ssl_required is False

    def test_require_encrypts_without_verifying_and_never_falls_back(self) -> None:
        connection = self.connection("require")
        assert connection._ssl_required is True
        assert (connection.ctx.verify_mode, connection.ctx.check_hostname) == (ssl.CERT_NONE, False)

    def test_verify_ca_checks_the_chain_but_not_the_name(self) -> None:
        connection = self.connection("verify-ca")
        assert connection._ssl_required is True
        assert (connection.ctx.verify_mode, connection.ctx.check_hostname) == (ssl.CERT_REQUIRED, False)

    def test_verify_full_checks_the_chain_and_the_name(self) -> None:
        connection = self.connection("verify-full")
        assert connection._ssl_required is True
        assert (connection.ctx.verify_mode, connection.ctx.check_hostname) == (ssl.CERT_REQUIRED, True)

    def test_every_sslmode_the_config_takes_has_a_mysql_equivalent(self) -> None:
        assert set(SSL_MODES) <= set(MYSQL_TLS)

    def test_a_mode_without_an_equivalent_is_refused_by_the_args(self) -> None:
        with pytest.raises(ValueError, match="ssl_mode 'allow' has no MySQL equivalent"):
            MlflowPostgresArgs(namespace="mlflow", mode="external",
                               external=ExternalDatabase(host="db", password="pw", engine="mysql", ssl_mode="allow"))


class TestEgress:
    def test_the_server_and_the_migration_reach_mysql_on_3306(self, mysql_prod: ProgramRun) -> None:
        for policy in ("server", "migration"):
            assert database_egress(mysql_prod, policy) == [{"protocol": "TCP", "port": 3306}]

    def test_an_explicit_port_opens_that_port_only(self) -> None:
        run = run_prod({"externalDatabasePort": 3307})
        assert database_egress(run, "server") == [{"protocol": "TCP", "port": 3307}]


class TestBudget:
    """Prod: (3 + 1 surge) pods x (2 workers x 2 engines x 41 + 2) + 658 jobs pod + 1 migration = 1323 connections."""

    def test_mysql_lends_the_application_every_connection(self) -> None:
        run_program("prod", {**PROD_SECRETS, **MYSQL, "postgresMaxConnections": 1323}, preview=True)

    def test_one_fewer_is_refused_naming_mysql(self) -> None:
        message = refusal("prod", {**MYSQL, "postgresMaxConnections": 1322})
        assert "mlflow-platform:postgresMaxConnections: the MLflow server may open more connections than MySQL allows" in message
        assert "= 1323 connections, but max_connections is 1322" in message

    def test_postgresql_keeps_its_superuser_slots_at_the_same_count(self) -> None:
        message = refusal("prod", {**MYSQL, "externalDatabaseEngine": "postgresql", "postgresMaxConnections": 1323})
        assert "more connections than PostgreSQL allows" in message and "after 3 reserved superuser slots" in message


class TestRefused:
    def test_mysql_outside_databasemode_external(self) -> None:
        for stack, mode in (("dev", "in-cluster"), ("prod", "rds")):
            message = refusal(stack, {"externalDatabaseEngine": "mysql"})
            expected = f"mlflow-platform:externalDatabaseEngine: mysql is for databaseMode external; {mode} runs PostgreSQL"
            assert expected in message

    def test_mlflows_auth_app(self) -> None:
        """Its first migration fails on MySQL and MariaDB (tests/runtime/test_mysql.py shows it on MariaDB)."""
        message = refusal("prod", {**MYSQL, "authEnabled": True})
        assert "mlflow-platform:authEnabled: MLflow's auth app cannot create its tables on MySQL or MariaDB" in message
        assert "mlflow/mlflow#9642" in message
        run_program("prod", {**PROD_SECRETS, **MYSQL, "authEnabled": True, "externalDatabaseEngine": "postgresql"},
                    preview=True)

    def test_an_unknown_engine(self) -> None:
        message = refusal("prod", {**MYSQL, "externalDatabaseEngine": "oracle"})
        assert "mlflow-platform:externalDatabaseEngine: 'oracle' is not allowed; use one of: postgresql, mysql" in message

    def test_verification_without_a_ca(self) -> None:
        message = refusal("prod", {**MYSQL, "externalDatabaseSslMode": "verify-ca"})
        assert "mlflow-platform:externalDatabaseSslMode: verify-ca needs the server's CA" in message
        assert "PyMySQL, given no CA file, cannot be told to verify" in message

    def test_unverified_tls_in_a_protected_stack(self) -> None:
        message = refusal("prod", {**MYSQL, "allowUnverifiedDatabaseTls": False})
        assert "mlflow-platform:externalDatabaseSslMode: the database connection uses sslmode=require" in message

    def test_every_problem_at_once(self) -> None:
        message = refusal("prod", {**MYSQL, "externalDatabaseSslMode": "verify-full", "postgresMaxConnections": 100,
                                   "externalDatabasePort": 70000})
        for key in ("externalDatabaseSslMode", "externalDatabasePort"):
            assert f"mlflow-platform:{key}: " in message
        # The budget is checked only once the database's keys read cleanly.
        message = refusal("dev", {"externalDatabaseEngine": "mysql", "artifactPrefix": "*/"})
        assert "mlflow-platform:externalDatabaseEngine: " in message and "mlflow-platform:artifactPrefix: " in message
