"""Creates MLflow's auth database if it is missing, then migrates it to the auth app's schema.

Run once by the migration Job before any server starts: servers migrate an empty auth database at
start-up too, without a lock, and several replicas doing it at once race (mlflow/server/auth/
sqlalchemy_store.py init_db -> db/utils.py migrate_if_needed). Both URIs come from the environment
(Secret references), never from the command line.
"""

import os
import re

import sqlalchemy
from mlflow.server.auth.db import utils


def main() -> None:
    auth_url = sqlalchemy.engine.make_url(os.environ["MLFLOW_AUTH_DATABASE_URI"])
    name = auth_url.database or ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit(f"refusing to create a database named {name!r}")
    # The tracking database exists already (the tracking migration ran first): connect there to create.
    tracking = sqlalchemy.create_engine(os.environ["MLFLOW_BACKEND_STORE_URI"], isolation_level="AUTOCOMMIT")
    with tracking.connect() as connection:
        exists = connection.execute(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        if exists.scalar() is None:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
            print(f"created database {name}")
    tracking.dispose()
    engine = sqlalchemy.create_engine(auth_url)
    utils.migrate(engine, "head")
    engine.dispose()
    print(f"auth database {name} is at the auth app's head revision")


if __name__ == "__main__":
    main()
