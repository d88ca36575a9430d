"""The database connection, chosen by ``DATABASE_URL``: SQLite by default, or PostgreSQL.

Every table binds to ``database``, a proxy that ``init_database`` points at the real
database once per process. playhouse.db_url reads the URL; this module adds on top what
several processes sharing one database need.
"""

from __future__ import annotations

import datetime as dt
import select
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from peewee import (
    AutoField,
    BaseQuery,
    Database,
    DatabaseProxy,
    Model,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
)
from playhouse import db_url
from playhouse.pool import PooledPostgresqlDatabase

from config.private_files import create_private

database = DatabaseProxy()

# Writers wait this long for the SQLite write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


class BaseModel(Model):
    """The base of every table: binds it to the process's database."""

    # The primary key peewee would add by itself, declared so that type checkers know
    # ``Model.id`` (a column in a query, an int on a row). Every table inherits a copy.
    id = AutoField()

    class Meta:
        database = database
        legacy_table_names = False


def tuple_rows(query: BaseQuery) -> Iterator[tuple[Any, ...]]:
    """Run ``query`` and give its rows as plain tuples (``query.tuples()``).

    peewee's stubs say that ``.tuples()`` returns the query itself, whose rows are models;
    this says what the rows are.
    """
    rows: Iterator[tuple[Any, ...]] = iter(query.tuples())
    return rows


# Seconds to add to this host's clock to read Redis's: the one clock all hosts share. Every
# worker, web and scheduler process measures it when it starts and every minute
# (ops/clock.py), and the overlap commands that write or compare job rows' stamps once as
# they start (cli/main.py, ON_SHARED_CLOCK); elsewhere (other commands, tests) it stays 0.
# A list, so that the measure replaces its one item rather than rebinding a global.
_clock_offset = [0.0]


def set_clock_offset(seconds: float) -> None:
    """Make ``utcnow`` read the shared clock: this host's plus ``seconds``."""
    _clock_offset[0] = seconds


def clock_offset() -> float:
    """Seconds this host's clock is behind the shared one (what ``utcnow`` adds)."""
    return _clock_offset[0]


def shared_time() -> float:
    """Epoch seconds on the shared clock: this host's corrected by the measured offset, for
    every stamp another host compares (``time.time()`` is this host's alone)."""
    return time.time() + _clock_offset[0]


def shared_millis() -> int:
    """Milliseconds since the epoch on the shared clock: this host's, corrected by the
    offset its process measured against Redis's (what Dramatiq's stamps use, actors/broker.py)."""
    return int(time.time() * 1000) + round(_clock_offset[0] * 1000)


def utcnow() -> dt.datetime:
    """The current time in UTC, naive, as every timestamp column stores it: this host's
    clock corrected by the offset its process measured against Redis's, so that stamps
    written on different hosts (job heartbeats, ends, sessions) compare on one clock."""
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=_clock_offset[0])
    return now.replace(tzinfo=None)


def _sqlite(params: dict[str, Any]) -> SqliteDatabase:
    path = params["database"]
    if path != ":memory:":
        # The file holds everyone's (sealed) tokens and libraries: 0600, made before SQLite
        # opens it, whose write-ahead log and shared-memory files then take the same mode.
        # Its folder is the app's var/ by default, but DATABASE_URL may name a shared one.
        create_private(Path(path), tighten_folder=False)
    # Several processes write at once (web, workers, scheduler). WAL lets readers go on
    # while one writes; BEGIN IMMEDIATE takes the write lock at the start of a transaction,
    # so a transaction that reads and then writes never has to upgrade its lock (a deferred
    # BEGIN fails at once with "database is locked" in that case, whatever the timeout).
    defaults = {
        "pragmas": {
            "journal_mode": "wal",
            "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
            "synchronous": "normal",
            "foreign_keys": 1,
        },
        "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        "lock_type": "IMMEDIATE",
        "check_same_thread": False,
    }
    return SqliteDatabase(**{**defaults, **params})


class CheckedPool(PooledPostgresqlDatabase):
    """peewee's pool, checking each connection it hands out without a round trip where it
    can, and outside the locks where it cannot.

    peewee's pool checks an idle connection with ``SELECT 1`` before handing it out, so
    that the ones a database restart killed are dropped, not given to a request
    (tests/faults/test_database_outage.py). It does so in ``_connect``, under the pool's
    lock and the database's, so each checkout waited for the others' round trips: 8
    threads 20 ms from the database took 25 connections a second between them, whatever
    their number (docs/capacity.md, **Across machines**).

    Here a connection is asked only when its socket has something to read: a server that
    ends a connection (a restart, ``pg_terminate_backend``) says so, or closes it, and
    either makes the socket readable, while a healthy idle connection has nothing
    waiting. The question is then asked after the checkout, outside the locks.
    """

    def _is_closed(self, conn: Any) -> bool:
        # Under the locks: only what the driver knows without asking the server.
        return bool(conn.closed) or self._adapter.txn_status(conn) == self._adapter.txn_unknown

    def connect(self, reuse_if_open: bool = False) -> bool:
        # Every dead connection found is closed, so this ends once the idle ones run out:
        # a new connection answers, or opening one fails and says why.
        for _ in range(self._max_connections + 2):
            opened = super().connect(reuse_if_open)
            if not opened or self._answers():
                return bool(opened)
            self.manual_close()
        raise OperationalError("every connection the pool opened was closed at once")

    def _answers(self) -> bool:
        """Whether this thread's connection is usable: idle with nothing sent to it, or
        answering a round trip (a rollback if a transaction was left open, ``SELECT 1``
        otherwise, as peewee's check does)."""
        conn = self._state.conn
        idle = self._adapter.txn_status(conn) == self._adapter.txn_idle
        if idle and not _readable(conn.fileno()):
            return True
        try:
            if idle:
                # (through peewee, so that ops/round_trips.py counts it)
                self.cursor().execute("SELECT 1")  # type: ignore[no-untyped-call]
            else:
                self._adapter.rollback(conn)
        except Exception:  # whatever the driver raises, the link is gone
            return False
        return True


def _readable(fd: int) -> bool:
    """Whether the socket ``fd`` has something to read (or its end was closed), now."""
    poll = select.poll()
    poll.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poll.poll(0))


def _postgres(params: dict[str, Any]) -> PooledPostgresqlDatabase:
    # Workers open a connection per message and the web one per request; the pool makes
    # that a hand-over instead of a new login each time, and checks the connection it
    # hands over (CheckedPool). That is why every PostgreSQL scheme gets the pool,
    # ``postgresql://`` included.
    # At most 64 a process: a worker's 8 threads each running a sync hold 7 at most (the
    # sync's own, 3 saved-page threads and 3 followed-page stores, sync/users.py).
    defaults = {
        "port": 5432,
        "max_connections": 64,
        "stale_timeout": 300,
        "timeout": 10,
        "autoconnect": True,
        "connect_timeout": 5,
        # No JIT: the comparison's statements are estimated above jit_above_cost (a
        # subplan per artist) and compiling them took 60 ms of a 30 ms statement
        # (bench/compare_queries.py); no statement of this app runs long enough to repay it.
        "options": "-c jit=off",
    }
    return CheckedPool(**{**defaults, **params})


# The schemes DATABASE_URL may use; config.settings accepts the same ones
# (tests/models/test_db.py holds the two lists together).
BUILDERS: dict[str, Callable[[dict[str, Any]], Database]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
    "postgresql": _postgres,
    "postgres+pool": _postgres,
    "postgresql+pool": _postgres,
}


def make_database(url: str) -> Database:
    """A database object for a ``sqlite:///path`` or ``postgresql[+pool]://`` URL."""
    scheme = urlsplit(url).scheme
    build = BUILDERS.get(scheme)
    if build is None:
        # The scheme only: the rest of the URL may hold a password.
        raise ValueError(f"unsupported DATABASE_URL scheme: {scheme!r}")
    # A user name or password may be %-encoded in the URL (p%40ss for p@ss); the server
    # must get it decoded. Options in the query string (?sslmode=require) win over ours.
    return build(db_url.parse(url, unquote_password=True, unquote_user=True))


def init_database(url: str) -> Database:
    """Point every table at the database of ``url`` and return it."""
    db = make_database(url)
    database.initialize(db)
    return db


def is_postgres() -> bool:
    """Whether the process's database is PostgreSQL."""
    return isinstance(database.obj, PostgresqlDatabase)


def read_snapshot() -> Any:
    """A transaction whose reads all see one moment of the database, for a page made of
    several statements: a count landing between two of them cannot drop a row or make
    two figures disagree. SQLite's deferred transaction holds one snapshot (WAL) from its
    first read; PostgreSQL needs REPEATABLE READ, as each statement reads anew otherwise."""
    if is_postgres():
        return database.atomic(isolation_level="REPEATABLE READ READ ONLY")
    # DEFERRED: the IMMEDIATE default would take the write lock and make writers wait.
    return database.atomic(lock_type="DEFERRED")
