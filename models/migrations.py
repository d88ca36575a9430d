"""Creating and upgrading the schema (``overlap db upgrade``).

A new database gets every table as the models describe them today and is stamped with
the latest version. An existing database runs, in order, each step newer than its stamp.
A step is a function of a playhouse.migrate ``SchemaMigrator`` that changes the tables
with its operations; add one to ``STEPS`` whenever a table changes, and never edit a step
that has shipped (so a step spells out its columns instead of taking the models' fields,
which move on).
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import DateTimeField, IntegerField
from playhouse.migrate import SchemaMigrator

from models.db import BaseModel, database, is_postgres, utcnow

Step = Callable[[SchemaMigrator], None]


class SchemaVersion(BaseModel):
    """The schema version this database was last upgraded to (a single row)."""

    version = IntegerField()

    class Meta:
        table_name = "schema_version"


def _tables() -> list[type[BaseModel]]:
    # Imported late so that later issues' tables (job runs) register themselves here too.
    import models

    return list(models.ALL_TABLES)


def _job_eta_and_list_indexes(migrator: SchemaMigrator) -> None:
    """Version 2: job runs get an ETA, and indexes for the dashboard's newest-first lists."""
    migrator.migrate(
        migrator.add_column("job_runs", "eta_at", DateTimeField(null=True)),
        migrator.add_index("job_runs", ("status", "id")),
        migrator.add_index("job_runs", ("actor", "id")),
    )


# Version 1 is the first schema: its tables are created from the models.
STEPS: list[Step] = [_job_eta_and_list_indexes]
LATEST = 1 + len(STEPS)


def current_version() -> int | None:
    """The database's schema version, or None when it has no schema yet."""
    if not database.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else None


def upgrade() -> tuple[int | None, int]:
    """Bring the schema to the latest version; returns (version before, version after)."""
    migrator = SchemaMigrator.from_database(database)
    # One transaction for the whole upgrade (DDL is transactional on SQLite and
    # PostgreSQL), so a step that fails leaves the database at its old version, whole.
    # On SQLite the context also turns foreign keys off meanwhile: some operations copy
    # a table to change it, and dropping the old copy would delete the rows pointing at it.
    with migrator.migration_context():
        before = current_version()
        if before is None:
            database.create_tables([SchemaVersion, *_tables()])
            SchemaVersion.create(version=LATEST)
            return None, LATEST
        for number, step in enumerate(STEPS, start=2):
            if number > before:
                step(migrator)
        if before < LATEST:
            SchemaVersion.update(version=LATEST).execute()
        return before, LATEST


def drop_all() -> None:
    """Remove every table of the app (tests and ``overlap db reset`` only)."""
    database.drop_tables([SchemaVersion, *_tables()], cascade=database_is_postgres())


def database_is_postgres() -> bool:
    """Whether DROP ... CASCADE is understood."""
    return is_postgres()


__all__ = ["LATEST", "STEPS", "SchemaVersion", "current_version", "drop_all", "upgrade", "utcnow"]
