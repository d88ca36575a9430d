"""Creating and upgrading the schema (``overlap db upgrade``) with playhouse.migrations.

The schema is the numbered scripts in this folder (``0001_initial.py``, ...), each with
an ``up(migrator, db)`` that changes the tables with playhouse.migrate operations.
playhouse.migrations' ``Runner`` applies the pending ones in order and records each by
name in the ``schema_migration`` table. A new database runs them all, so it never takes
its tables from the live models, which move on. To change a table, add the next script
and never edit one that shipped; a script that creates a table declares a frozen copy of
it. ``python -m playhouse.migrations ... generate`` drafts one from a model diff.

Before these scripts, a ``schema_version`` table held a version number (1 or 2). The first
upgrade of such a database records the scripts up to that number as applied without
running them, then drops the old table, so that one bookkeeping remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peewee import Table, fn
from playhouse.migrate import SchemaMigrator
from playhouse.migrations import Migration, MigrationError, Runner

from models.db import BaseModel, database, is_postgres

DIRECTORY = Path(__file__).parent
HISTORY_TABLE = "schema_migration"
LEGACY_TABLE = "schema_version"
# Held by ``upgrade`` on PostgreSQL; any constant that nothing else locks will do
# (this one is "overlapm" in ASCII).
UPGRADE_LOCK_KEY = 0x6F7665726C61706D

LATEST = max(m.idx for m in Migration.load_directory(str(DIRECTORY)))


@dataclass(frozen=True)
class Upgrade:
    """What one ``upgrade()`` did; versions are script numbers, None for no schema."""

    before: int | None
    after: int | None
    applied: tuple[str, ...] = ()
    # Scripts recorded as applied without running, from an old schema_version stamp.
    carried_over: tuple[str, ...] = ()


def _runner() -> Runner:
    return Runner(database.obj, directory=str(DIRECTORY), table_name=HISTORY_TABLE)


def _tables() -> list[type[BaseModel]]:
    # Imported when called: this module lives inside the models package, whose __init__
    # lists the tables, and a module-level import of it from here would be circular.
    import models

    return list(models.ALL_TABLES)


def legacy_version() -> int | None:
    """The old ``schema_version`` stamp that the next upgrade carries over, if any."""
    if not database.table_exists(LEGACY_TABLE):
        return None
    stamp = Table(LEGACY_TABLE).bind(database)
    version: int | None = stamp.select(fn.MAX(stamp.c.version)).scalar()
    return version


def _version(runner: Runner) -> int | None:
    numbers = [m.idx for m in runner.status() if m.applied]
    return max(numbers) if numbers else legacy_version()


def current_version() -> int | None:
    """The number of the newest script the database has, or None when it has no schema."""
    return _version(_runner())


def status() -> list[Migration]:
    """Every script with when it was applied (None: pending), in order; a row whose
    ``path`` is None was applied by a newer release whose script is not here."""
    return _runner().status()


def _carry_over(runner: Runner) -> list[str]:
    """Record the scripts an old ``schema_version`` stamp stands for, then drop the table."""
    if not database.table_exists(LEGACY_TABLE):
        return []
    version = legacy_version() or 0
    scripts = [m for m in runner.migrations() if m.idx <= version]
    if [m.idx for m in scripts] != list(range(1, version + 1)):
        raise MigrationError(f"no scripts here match the old schema version {version}")
    faked = runner.fake(scripts[-1].name) if scripts else []
    # Dropped rather than kept: with one bookkeeping nothing can read a stale version,
    # and the carry-over cannot run twice.
    migrator = SchemaMigrator.from_database(database)
    migrator.migrate(migrator.drop_table(LEGACY_TABLE))
    return faked


def _lock() -> None:
    """Make any other upgrade wait until this one's transaction ends."""
    if is_postgres():
        # Without it, two processes upgrading a new database would both see no tables.
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK_KEY,))
    # SQLite needs nothing more: models.db begins every transaction IMMEDIATE, which takes
    # the write lock, so the other upgrade waits at its BEGIN (up to the busy timeout).


def upgrade() -> Upgrade:
    """Apply every pending script, one process at a time, all or nothing."""
    migrator = SchemaMigrator.from_database(database)
    # One transaction for the whole upgrade (DDL is transactional on SQLite and
    # PostgreSQL), so a script that fails leaves the database as it was, whole (and a
    # script's ``atomic = False`` changes nothing). On SQLite the context also turns
    # foreign keys off meanwhile (only possible outside a transaction, hence here and not
    # per script): some operations copy a table, and dropping the old copy would delete
    # the rows pointing at it.
    with migrator.migration_context():
        _lock()
        runner = _runner()
        before = _version(runner)
        carried = _carry_over(runner)
        applied = runner.up()
        return Upgrade(before, _version(runner), tuple(applied), tuple(carried))


def drop_all() -> None:
    """Remove every table of the app and its history (tests and ``overlap db reset`` only)."""
    database.drop_tables(_tables(), cascade=is_postgres())
    migrator = SchemaMigrator.from_database(database)
    for table in (HISTORY_TABLE, LEGACY_TABLE):
        migrator.migrate(migrator.drop_table(table, safe=True))


def database_is_postgres() -> bool:
    """Whether DROP ... CASCADE is understood."""
    return is_postgres()


__all__ = [
    "LATEST",
    "Upgrade",
    "current_version",
    "drop_all",
    "legacy_version",
    "status",
    "upgrade",
]
