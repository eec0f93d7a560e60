"""Checks, after the migrations, that the database holds every table, column, index and unique constraint MLflow's
models declare, and exits non-zero naming each one missing and how to repair it.

A migration that was interrupted, run by hand or half-restored can leave the alembic revision at head and a table
without an index: MLflow starts and answers, and metric queries take over 20 s (mlflow/mlflow#14465). The revision
check MLflow itself runs at start (mlflow/store/db/utils.py `_verify_schema`) compares the revision only.

The rule is MLflow's own: its tests compare a migrated database with its models through alembic's autogenerate,
`compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), Base.metadata)`
(tests/store/tracking/test_sqlalchemy_store_schema.py, test_store_generated_schema_matches_base). What is reported
here, and what is not (measured on freshly migrated PostgreSQL 15, MariaDB 10.11 and SQLite, MLflow 3.17.2):
- reported: a table, a column, an index or a unique constraint the models declare and the database lacks;
- not compared: types and server defaults (compare_type off, as in MLflow's test; they differ by dialect, e.g.
  MySQL reflects `jobs.job_name`'s nullability differently), foreign keys (MLflow's test drops `add_fk`: the model of
  `input_tags` declares one that no migration creates), and what the database has beyond the models (old tables the
  models no longer declare, indexes the migrations add that the models omit: MLflow's test drops `remove_index`);
- an index counts as present when the table has one of the same name (the models declare a few differently from the
  migrations that made them: `index_trace_tags_request_id` without columns, `idx_mcp_server_versions_latest` with
  DESC expressions, so autogenerate reports them) or one on the same columns under another name (a DBA's repair);
- NEVER_MIGRATED: declared by a model, created by no migration of MLflow's, so absent from every database.

Run with `python -c` in MLflow's image, as a step of the migration Job after the tracking migration (and the auth
app's), through MLflow's own engine factory (the same connection options as `mlflow db upgrade`); the URIs come from
the environment (Secret references), never from the command line.
"""

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the platform's program reads the names above; only the pod, with MLflow's image, connects
    from sqlalchemy import Engine, Inspector, MetaData

# The variables the Job's other steps read too (migration.py BACKEND_URI_ENV, auth.py AUTH_DATABASE_ENV): this script
# runs on its own in the pod (python -c), so it names them again (tests/components/test_schema_check.py keeps them equal).
BACKEND_URI_ENV = "MLFLOW_BACKEND_STORE_URI"
AUTH_DATABASE_ENV = "MLFLOW_AUTH_DATABASE_URI"
# (table, index): MLflow 3.17.2's SqlIssue declares index_issues_created_by, but its migration
# (mlflow/store/db_migrations/versions/76601a5f987d_add_issues_table.py) creates only the experiment_id, source_run_id
# and status indexes, and no later one adds it.
NEVER_MIGRATED = frozenset({("issues", "index_issues_created_by")})
REPAIR_DOC = "docs/operations.md, 'Schema check after the migration'"


def tracking_metadata() -> "MetaData":
    """Every table of the tracking database, as `mlflow db upgrade` knows them: mlflow.store.db.utils imports each
    model module so that Base.metadata is complete (its own comment says so)."""
    import mlflow.store.db.utils  # noqa: F401
    from mlflow.store.db.base_sql_model import Base

    metadata: MetaData = Base.metadata
    return metadata


def auth_metadata() -> "MetaData":
    from mlflow.server.auth.db.models import Base

    metadata: MetaData = Base.metadata
    return metadata


def flattened(diffs: list[Any]) -> list[tuple[Any, ...]]:
    """compare_metadata's operations, with a column's modifications (a list of tuples) unnested."""
    return [item for diff in diffs for item in (diff if isinstance(diff, list) else [diff])]


def column_names(index_or_constraint: Any) -> list[str]:
    return [column.name for column in index_or_constraint.columns]


# An index, unique constraint or primary key a table has: (name, columns, unique).
Held = tuple[str | None, list[str], bool]


def held_by(inspector: "Inspector", table: str) -> list[Held]:
    primary = inspector.get_pk_constraint(table)
    indexes = inspector.get_indexes(table)
    return [*((item["name"], [str(column) for column in item["column_names"]], bool(item["unique"])) for item in indexes),
            *((item["name"], list(item["column_names"]), True) for item in inspector.get_unique_constraints(table)),
            (primary.get("name"), list(primary.get("constrained_columns") or []), True)]


def present(held: list[Held], name: str | None, columns: list[str], unique: bool) -> bool:
    """Whether what a model declares as `name` is there: under that name, or on the same columns (unique, if it must
    be) under another."""
    return any(found == name or (columns and found_columns == columns and (found_unique or not unique))
               for found, found_columns, found_unique in held)


def missing_objects(engine: "Engine", metadata: "MetaData", version_table: str) -> list[tuple[str, str]]:
    """(what is missing, the SQL that creates it) for each table, column, index or unique constraint `metadata`
    declares that the database behind `engine` lacks."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect
    from sqlalchemy.schema import AddConstraint, CreateColumn, CreateIndex, CreateTable, UniqueConstraint

    def sql(statement: Any) -> str:
        return str(statement.compile(dialect=engine.dialect)).strip()

    # Autogenerate warns that it approximates the models' expression indexes (idx_mcp_server_versions_latest): they
    # are matched by name here.
    logging.getLogger("alembic.ddl.impl").setLevel(logging.ERROR)
    missing = []
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False, "compare_server_default": False,
                                                               "version_table": version_table})
        inspector = inspect(connection)
        tables = set(inspector.get_table_names())
        held: dict[str, list[Held]] = {}

        def held_on(table: str) -> list[Held]:
            return held.setdefault(table, held_by(inspector, table)) if table in tables else []

        for diff in flattened(compare_metadata(context, metadata)):
            kind = diff[0]
            if kind == "add_table":
                table = diff[1]
                missing.append((f"table {table.name}", sql(CreateTable(table))))
            elif kind == "add_column":
                _, _, table_name, column = diff
                missing.append((f"column {table_name}.{column.name}",
                                f"ALTER TABLE {table_name} ADD COLUMN {sql(CreateColumn(column))}"))
            elif kind == "add_index":
                index = diff[1]
                if ((index.table.name, index.name) in NEVER_MIGRATED
                        or present(held_on(index.table.name), index.name, column_names(index), bool(index.unique))):
                    continue
                declared = [getattr(item, "name", None) or str(item) for item in index.expressions]
                missing.append((f"index {index.name} on {index.table.name} ({', '.join(declared) or 'no columns declared'})",
                                sql(CreateIndex(index)) if declared else
                                "(the model names no columns: take them from MLflow's migration that creates it)"))
            elif kind == "add_constraint" and isinstance(diff[1], UniqueConstraint):
                constraint = diff[1]
                columns = column_names(constraint)
                name = constraint.name if isinstance(constraint.name, str) else None
                if present(held_on(constraint.table.name), name, columns, True):
                    continue
                missing.append((f"unique constraint {name or '(unnamed)'} on {constraint.table.name} "
                                f"({', '.join(columns)})", sql(AddConstraint(constraint))))
    return missing


def report(database: str, missing: list[tuple[str, str]]) -> str:
    lines = [f"the {database} database lacks {len(missing)} object(s) MLflow's models declare (an interrupted, manual "
             "or partly restored migration):"]
    for what, statement in missing:
        lines += [f"  - {what}", f"      repair: {' '.join(statement.split())}{'' if statement.startswith('(') else ';'}"]
    lines.append(f"Create each (the SQL above, as the database owner; CONCURRENTLY on a busy PostgreSQL), or restore the "
                 f"pre-upgrade dump and migrate again; then re-run the migration Job ({REPAIR_DOC}).")
    return "\n".join(lines)


def main() -> None:
    from mlflow.store.db.utils import create_sqlalchemy_engine

    databases = [("tracking", BACKEND_URI_ENV, tracking_metadata, "alembic_version")]
    if os.environ.get(AUTH_DATABASE_ENV):
        # The auth app's own models and version table (mlflow/server/auth/db/utils.py, migrations/env.py).
        databases.append(("auth", AUTH_DATABASE_ENV, auth_metadata, "alembic_version_auth"))
    problems = []
    for database, variable, metadata, version_table in databases:
        engine = create_sqlalchemy_engine(os.environ[variable])
        try:
            missing = missing_objects(engine, metadata(), version_table)
        finally:
            engine.dispose()
        if missing:
            problems.append(report(database, missing))
        else:
            print(f"schema check: the {database} database has every table, column, index and unique constraint "
                  "MLflow's models declare")
    if problems:
        sys.exit("schema check failed: " + "\n".join(problems))


if __name__ == "__main__":
    main()
