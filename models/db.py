"""The database connection, chosen by ``DATABASE_URL``: SQLite by default, or PostgreSQL.

Every table binds to ``database``, a proxy that ``init_database`` points at the real
database once per process.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, Model, PostgresqlDatabase, SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase

database = DatabaseProxy()

# Writers wait this long for the SQLite write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


class BaseModel(Model):
    """The base of every table: binds it to the process's database."""

    class Meta:
        database = database
        legacy_table_names = False


def utcnow() -> dt.datetime:
    """The current time in UTC, naive, as every timestamp column stores it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sqlite(url: str) -> SqliteDatabase:
    path = url.removeprefix("sqlite:///")
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Several processes write at once (web, workers, scheduler). WAL lets readers go on
    # while one writes; BEGIN IMMEDIATE takes the write lock at the start of a transaction,
    # so a transaction that reads and then writes never has to upgrade its lock (a deferred
    # BEGIN fails at once with "database is locked" in that case, whatever the timeout).
    return SqliteDatabase(
        path,
        pragmas={
            "journal_mode": "wal",
            "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
            "synchronous": "normal",
            "foreign_keys": 1,
        },
        timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        lock_type="IMMEDIATE",
        check_same_thread=False,
    )


def _postgres(url: str) -> PostgresqlDatabase:
    parsed = urlparse(url)
    # Workers open a connection per message and the web one per request; the pool makes
    # that a hand-over instead of a new login each time. The pool checks an idle
    # connection with a round trip before handing it out, so the ones a database restart
    # killed are dropped, not given to a request (tests/faults/test_database_outage.py).
    return PooledPostgresqlDatabase(
        parsed.path.lstrip("/"),
        user=parsed.username,
        password=parsed.password,
        host=parsed.hostname,
        port=parsed.port or 5432,
        max_connections=40,
        stale_timeout=300,
        timeout=10,
        autoconnect=True,
        connect_timeout=5,
    )


def make_database(url: str) -> Database:
    """A database object for a ``sqlite:///path`` or ``postgresql://`` URL."""
    if url.startswith("sqlite:"):
        return _sqlite(url)
    if url.startswith(("postgres://", "postgresql://")):
        return _postgres(url)
    raise ValueError(f"unsupported DATABASE_URL: {url!r}")


def init_database(url: str) -> Database:
    """Point every table at the database of ``url`` and return it."""
    db = make_database(url)
    database.initialize(db)
    return db


def is_postgres() -> bool:
    """Whether the process's database is PostgreSQL."""
    return isinstance(database.obj, PostgresqlDatabase)
