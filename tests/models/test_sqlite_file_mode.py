"""The SQLite file and its write-ahead log are 0600: they hold everyone's sealed tokens."""

from __future__ import annotations

import stat

from models.db import make_database


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_its_log_and_a_new_folder_are_this_user_s_alone(tmp_path):
    path = tmp_path / "var" / "overlap.db"
    db = make_database(f"sqlite:///{path}")
    db.connect()
    db.execute_sql("CREATE TABLE t (x TEXT)")
    db.execute_sql("INSERT INTO t VALUES ('a')")

    files = sorted(path.parent.iterdir())
    assert [p.name for p in files] == ["overlap.db", "overlap.db-shm", "overlap.db-wal"]
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(path.parent) == 0o700
    db.close()


def test_an_existing_file_is_tightened_but_a_shared_folder_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    path = shared / "overlap.db"
    path.touch()
    path.chmod(0o644)

    make_database(f"sqlite:///{path}")

    assert mode(path) == 0o600
    assert mode(shared) == 0o755
