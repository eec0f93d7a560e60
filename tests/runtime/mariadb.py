"""A real MariaDB (or MySQL) for the runtime layer: a database and a user of its own per test run, dropped after.

The user gets only its database and the auth app's (`<database>_auth`, which the migration Job creates), and a
password full of URL metacharacters: what MLflow reads is the URI the program built, so it must survive that.
"""

import os
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pymysql  # type: ignore[import-untyped]

DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/"
MYSQL_URL_VARIABLE = "MLFLOW_PLATFORM_TEST_MYSQL_URL"


@dataclass(frozen=True)
class MariaDBServer:
    admin_url: str
    """mysql://<admin>[:<password>]@<host>:<port>/ of an account that may create databases, users and set globals."""
    passwords: dict[str, str] = field(default_factory=dict)
    """The user of each database created here (named like it) and its password."""

    @classmethod
    def from_environment(cls) -> "MariaDBServer":
        return cls(os.environ.get(MYSQL_URL_VARIABLE, DEFAULT_MYSQL_URL))

    def _connect(self, database: str | None = None) -> Any:
        parts = urlsplit(self.admin_url)
        return pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306, user=parts.username or "root",
                               password=parts.password or "", database=database, autocommit=True, connect_timeout=3)

    def unavailable_reason(self) -> str | None:
        try:
            self._connect().close()
        except pymysql.err.MySQLError as err:
            return f"no MariaDB/MySQL at {self.address} ({err}); set {MYSQL_URL_VARIABLE}"
        return None

    @property
    def address(self) -> str:
        parts = urlsplit(self.admin_url)
        return f"{parts.hostname or '127.0.0.1'}:{parts.port or 3306}"

    def query(self, database: str | None, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """One statement as the admin, autocommitted."""
        connection = self._connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params or None)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def create_database(self, prefix: str = "mlflow_rt") -> str:
        """A database and a user of the same name, who may use it and create `<name>_auth`."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        password = f"p@ss:w/rd?#{secrets.token_hex(6)} %"
        self.query(None, f"CREATE DATABASE `{name}`")
        self.query(None, f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", password)  # %% : pymysql formats with %
        # In GRANT, _ and % in a database name are wildcards: escaped, the grant names exactly these two.
        for database in (name, f"{name}_auth"):
            self.query(None, f"GRANT ALL PRIVILEGES ON `{database.replace('_', chr(92) + '_')}`.* TO '{name}'@'%'")
        self.passwords[name] = password
        return name

    def netloc_for(self, database: str) -> str:
        """user:password@host:port of the database's own user, escaped for a URL."""
        return f"{database}:{quote(self.passwords[database], safe='')}@{self.address}"

    def drop_database(self, name: str) -> None:
        self.query(None, f"DROP DATABASE IF EXISTS `{name}`")
        if self.passwords.pop(name, None) is not None:
            self.query(None, f"DROP DATABASE IF EXISTS `{name}_auth`")
            self.query(None, f"DROP USER IF EXISTS '{name}'@'%'")

    def connections_to(self, database: str) -> int:
        """The sessions of the database's own user now (the admin sees every process; an idle session names no
        database, so the user is what counts them)."""
        return int(self.query(None, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s",
                              database)[0][0])

    def max_connections(self) -> int:
        return int(self.query(None, "SELECT @@GLOBAL.max_connections")[0][0])

    def set_max_connections(self, value: int) -> None:
        self.query(None, f"SET GLOBAL max_connections = {int(value)}")

    def version(self) -> str:
        return str(self.query(None, "SELECT VERSION()")[0][0])
