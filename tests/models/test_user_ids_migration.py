"""Migration 0006 rebuilds SQLite's user table with AUTOINCREMENT and keeps every row, id
and link; after it, the id of a deleted newest person is not given again."""

from __future__ import annotations

import shutil

from peewee import SqliteDatabase
from playhouse.migrate import SchemaMigrator
from playhouse.migrations import Runner

from models import migrations

USER = (
    "INSERT INTO user (id, spotify_id, friend_code, needs_reauth, created_at) "
    "VALUES (?, ?, ?, 0, '2026-01-01')"
)


def run_scripts(db: SqliteDatabase, folder) -> None:
    migrator = SchemaMigrator.from_database(db)
    with migrator.migration_context():  # foreign keys off, as ``migrations.upgrade`` does
        Runner(db, directory=str(folder), table_name="schema_migration").up()


def test_0006_keeps_rows_ids_and_links_and_ids_are_never_reused(tmp_path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    for script in sorted(migrations.DIRECTORY.glob("[0-9]*.py")):
        if script.name < "0006":
            shutil.copy(script, folder)
    db = SqliteDatabase(str(tmp_path / "old.db"), pragmas={"foreign_keys": 1})
    run_scripts(db, folder)
    for n in (1, 2, 3):
        db.execute_sql(USER, (n, f"person{n}", f"CODE{n:06d}"))
    db.execute_sql(
        "INSERT INTO artist (id, spotify_id, details_complete, created_at, updated_at)"
        " VALUES (1, 'a', 1, '2026-01-01', '2026-01-01')"
    )
    db.execute_sql(
        "INSERT INTO user_artist (user_id, artist_id, source, seen_at)"
        " VALUES (3, 1, 'followed', '2026-01-01')"
    )
    before = db.execute_sql("SELECT * FROM user ORDER BY id").fetchall()

    shutil.copy(migrations.DIRECTORY / "0006_user_ids_never_reused.py", folder)
    run_scripts(db, folder)

    assert db.execute_sql("SELECT * FROM user ORDER BY id").fetchall() == before
    create = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = 'user'").fetchone()[0]
    assert "AUTOINCREMENT" in create
    assert {i.name for i in db.get_indexes("user")} >= {"user_spotify_id", "user_friend_code"}
    db.execute_sql("DELETE FROM user WHERE id = 3")  # the newest person; their link cascades
    assert db.execute_sql("SELECT COUNT(*) FROM user_artist").fetchone()[0] == 0
    db.execute_sql(
        "INSERT INTO user (spotify_id, friend_code, needs_reauth, created_at)"
        " VALUES ('next', 'NEXT000000', 0, '2026-01-02')"
    )
    assert db.execute_sql("SELECT id FROM user WHERE spotify_id = 'next'").fetchone()[0] == 4
