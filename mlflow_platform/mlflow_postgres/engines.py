"""The engines an external database may run, and what MLflow's URI needs for each: a driver the image ships, the
standard port, and libpq's sslmode said in the driver's own query parameters.

ghcr.io/mlflow/mlflow:v<version>-full installs mlflow[db]: psycopg2 for PostgreSQL and PyMySQL (1.2.4 in 3.17.2's
image; mysqlclient is not there) for MySQL and MariaDB.
"""

from typing import Literal

DatabaseEngine = Literal["postgresql", "mysql"]
DATABASE_ENGINES: tuple[str, ...] = ("postgresql", "mysql")
# SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql://, which the image may lack: name the driver.
DRIVERS = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}
POSTGRES_PORT = 5432
MYSQL_PORT = 3306
DEFAULT_PORTS = {"postgresql": POSTGRES_PORT, "mysql": MYSQL_PORT}
LABELS = {"postgresql": "PostgreSQL", "mysql": "MySQL"}

# libpq's sslmode as PyMySQL 1.2.4 understands it, through SQLAlchemy's mysql+pymysql URL query. SQLAlchemy
# (dialects/mysql/mysqldb.py create_connect_args) gathers ssl_ca, ssl_key, ssl_cert, ssl_capath, ssl_cipher and
# ssl_check_hostname (coerced to bool) into PyMySQL's `ssl` dict and passes every other key to pymysql.connect as
# the string it is. PyMySQL (connections.py, Connection.__init__ and _create_ssl_ctx; pymysql/PyMySQL v1.2.4):
#   - a non-empty `ssl` dict makes TLS required: a server without TLS is refused ("SSL is required but the server
#     doesn't support it"), never fallen back from;
#   - without a CA it does not verify (CERT_NONE); with one it verifies the chain (CERT_REQUIRED) and the host name
#     unless check_hostname is false;
#   - with no ssl option at all it tries TLS and falls back to plaintext (its PREFERRED mode, new in 1.2);
#   - ssl_disabled, any truthy value (it is not coerced: we only ever write "true"), forbids TLS.
MYSQL_TLS: dict[str, dict[str, str]] = {
    "disable": {"ssl_disabled": "true"},
    "prefer": {},
    "require": {"ssl_check_hostname": "false"},
    "verify-ca": {"ssl_check_hostname": "false"},
    "verify-full": {"ssl_check_hostname": "true"},
}


def mysql_tls_query(ssl_mode: str, ca_file: str | None) -> dict[str, str]:
    """The URL query for `ssl_mode`; `ca_file` (the mounted databaseCaSecret) is what verify-* check against."""
    query = dict(MYSQL_TLS[ssl_mode])
    if ca_file and ssl_mode.startswith("verify-"):
        query["ssl_ca"] = ca_file
    return query
