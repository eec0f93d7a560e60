"""Creates the platform's database roles and grants each what its workload needs (mlflow_postgres/roles.py).

The migration Job's last step, as the owner, after every schema is at head: the grants cover the tables the
migrations just made, so no default privileges are kept. Run with `python -c` in MLflow's image (psycopg2,
SQLAlchemy); every URI and password comes from the environment (Secret references).

A password is sent as its SCRAM verifier, computed here (libpq's PQencryptPasswordConn): the server, and a log of
its statements, never see the password itself.
"""

import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the platform's program reads the names above; only the pod, with MLflow's image, connects
    from psycopg2.extensions import connection

ROLES_ENV = "MLFLOW_PLATFORM_DATABASE_ROLES"
# The variables the Job's other steps read too (migration.py BACKEND_URI_ENV, auth.py AUTH_DATABASE_ENV): this script
# runs on its own in the pod, so it names them again (tests/components/test_mlflow_server.py keeps them equal).
BACKEND_URI_ENV = "MLFLOW_BACKEND_STORE_URI"
AUTH_DATABASE_ENV = "MLFLOW_AUTH_DATABASE_URI"
READ_ONLY = ("monitor", "backup")
APP_TABLES = "SELECT, INSERT, UPDATE, DELETE"


def password_env(kind: str) -> str:
    return f"MLFLOW_PLATFORM_{kind.upper()}_PASSWORD"


def connect(uri: str) -> "connection":
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    connection = psycopg2.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                                  dbname=url.database, **{k: str(v) for k, v in url.query.items()})
    connection.autocommit = True
    return connection


def ensure_roles(connection: "connection", roles: dict[str, str]) -> None:
    """Each role exists, may log in with its password from the environment, and may do nothing else by itself."""
    from psycopg2 import sql
    from psycopg2.extensions import encrypt_password

    with connection.cursor() as cursor:
        for kind, name in roles.items():
            role = sql.Identifier(name)
            verifier = encrypt_password(os.environ[password_env(kind)], name, connection, "scram-sha-256")
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            exists = cursor.fetchone() is not None
            cursor.execute(sql.SQL("{} ROLE {} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.SQL("ALTER" if exists else "CREATE"), role, sql.Literal(verifier)))
            if kind in READ_ONLY:
                cursor.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))
            if kind == "monitor":
                # What postgres_exporter reads: pg_stat_* of every session, pg_settings (PostgreSQL 10+).
                cursor.execute(sql.SQL("GRANT pg_monitor TO {}").format(role))
            print(f"role {name}: {'updated' if exists else 'created'}")


def grant(connection: "connection", roles: dict[str, str]) -> None:
    """In one database: the app's rows (not alembic's version), the backup's reads; nobody creates in public."""
    from psycopg2 import sql

    database = connection.info.dbname
    with connection.cursor() as cursor:
        # PostgreSQL 15 and newer already refuse it; before, everyone could create tables in public.
        cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        readers = [sql.Identifier(roles[kind]) for kind in ("app", "backup") if kind in roles]
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.SQL(", ").join(readers)))
        app = sql.Identifier(roles["app"])
        cursor.execute(sql.SQL(f"GRANT {APP_TABLES} ON ALL TABLES IN SCHEMA public TO {{}}").format(app))
        cursor.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(app))
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'alembic%'")
        for (table,) in cursor.fetchall():
            # The schema's revision is the Job's to write: the server only reads it (MLflow checks it at start-up).
            cursor.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier("public", table), app))
        if "backup" in roles:
            backup = sql.Identifier(roles["backup"])
            cursor.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(backup))
            cursor.execute(sql.SQL("GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(backup))
    print(f"database {database}: granted {', '.join(sorted(roles.values()))}")


def main() -> None:
    roles: dict[str, str] = json.loads(os.environ[ROLES_ENV])
    tracking = connect(os.environ[BACKEND_URI_ENV])
    ensure_roles(tracking, roles)
    grant(tracking, roles)
    tracking.close()
    if auth_uri := os.environ.get(AUTH_DATABASE_ENV):
        auth = connect(auth_uri)
        grant(auth, roles)
        auth.close()


if __name__ == "__main__":
    main()
