"""``DATABASE_URL`` becomes a database object: SQLite set up for several writers, or a
PostgreSQL pool, with the URL read the way playhouse.db_url reads it."""

from __future__ import annotations

import sqlite3
import time

import pytest
from playhouse.pool import PooledPostgresqlDatabase

from config.settings import DATABASE_SCHEMES
from models.db import BUILDERS, make_database


def test_a_pooled_postgresql_url_gets_the_same_pool_as_a_plain_one():
    plain = make_database("postgresql://ana@127.0.0.1:5433/app")
    pooled = make_database("postgresql+pool://ana@127.0.0.1:5433/app")

    for db in (plain, pooled):
        assert isinstance(db, PooledPostgresqlDatabase)
        assert db.database == "app"
        assert db.connect_params == {
            "user": "ana",
            "host": "127.0.0.1",
            "port": 5433,
            "connect_timeout": 5,
            "options": "-c jit=off",
        }
        assert (db._max_connections, db._stale_timeout, db._wait_timeout) == (64, 300, 10)
        assert db.autoconnect


def test_a_percent_encoded_user_and_password_reach_the_server_decoded():
    db = make_database("postgresql://ana%2Bops:p%40ss%3Aw%2Fd@127.0.0.1/app")

    assert db.connect_params["user"] == "ana+ops"
    assert db.connect_params["password"] == "p@ss:w/d"
    assert db.connect_params["port"] == 5432


def test_options_in_the_query_string_reach_the_connection_and_win_over_ours():
    db = make_database("postgresql://ana@127.0.0.1/app?sslmode=require&connect_timeout=2")

    assert db.connect_params["sslmode"] == "require"
    assert db.connect_params["connect_timeout"] == 2


def test_a_sqlite_file_is_made_with_its_folder_and_set_up_for_several_writers(tmp_path):
    path = tmp_path / "var" / "overlap.db"
    db = make_database(f"sqlite:///{path}")

    assert db.database == str(path)
    assert path.parent.is_dir()
    with db.connection_context():
        assert db.pragma("journal_mode") == "wal"
        assert db.pragma("busy_timeout") == 30_000
        assert db.pragma("foreign_keys") == 1
        # BEGIN IMMEDIATE: the write lock is taken when the transaction starts, before
        # any write, so a second writer is turned away at once rather than mid-way.
        with db.atomic():
            other = sqlite3.connect(path, timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()


def test_the_settings_accept_exactly_the_schemes_a_database_is_made_for():
    assert set(DATABASE_SCHEMES) == set(BUILDERS)


@pytest.mark.parametrize("scheme", DATABASE_SCHEMES)
def test_every_scheme_the_settings_accept_makes_a_database(scheme, tmp_path):
    url = f"{scheme}:///{tmp_path / 'x.db'}" if scheme == "sqlite" else f"{scheme}://u@h/app"

    assert make_database(url).database in {str(tmp_path / "x.db"), "app"}


def test_an_unknown_scheme_is_refused_without_showing_the_rest_of_the_url():
    with pytest.raises(ValueError, match="unsupported DATABASE_URL scheme") as refused:
        make_database("mysql://ana:secret@127.0.0.1/app")

    assert "mysql" in str(refused.value)
    assert "secret" not in str(refused.value)


def test_a_postgresql_connection_runs_without_jit(db):
    """The comparison's statements cost above jit_above_cost; compiling them took longer
    than running them (models/db.py)."""
    from models.db import database, is_postgres

    if not is_postgres():
        pytest.skip("SQLite has no JIT; this runs in the PostgreSQL pass")
    assert database.execute_sql("SHOW jit").fetchone()[0] == "off"


def _on_postgresql() -> None:
    from models.db import is_postgres

    if not is_postgres():
        pytest.skip("SQLite has no connection pool; this runs in the PostgreSQL pass")


def _backend_pid() -> int:
    from models.db import database

    return database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def _end_from_outside(pid: int) -> None:
    """End the server side of connection ``pid`` from a connection outside the pool, and
    wait until it is gone."""
    import psycopg2

    from models.db import database

    real = database.obj
    # (Not ``with outside``: psycopg2 2.9 makes that block one transaction even in
    # autocommit, and a transaction sees one snapshot of pg_stat_activity, so a backend
    # still there at the first look was seen there for the whole 30 s.)
    outside = psycopg2.connect(dbname=real.database, **real.connect_params)
    outside.autocommit = True
    try:
        with outside.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.01)
            else:
                raise AssertionError(f"connection {pid} still there after 30 s")
    finally:
        outside.close()


def test_a_pooled_connection_the_server_ended_is_not_handed_out_again(db):
    from models.db import database

    _on_postgresql()
    # Given a connection back in the pool, which the server then ends (as a restart does)...
    with database.connection_context():
        ended = _backend_pid()
    _end_from_outside(ended)
    # When this thread takes a connection again, it gets one that works, another.
    with database.connection_context():
        assert _backend_pid() != ended


def test_taking_a_healthy_pooled_connection_asks_the_server_nothing(db):
    from models.db import database
    from ops.round_trips import RoundTrips

    _on_postgresql()
    with database.connection_context():
        first = _backend_pid()
    # (Only this thread counted: the pool is the process's.)
    with RoundTrips(kinds=frozenset({"_MainThread"})).counting() as trips:
        database.connect()
        database.close()
    with database.connection_context():
        assert _backend_pid() == first
    assert not trips.db, trips.sites
