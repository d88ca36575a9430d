"""The schema is created and upgraded by the migration scripts, on SQLite and PostgreSQL
alike, and a database of the old ``schema_version`` bookkeeping is carried over in place."""

from __future__ import annotations

import ast
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from peewee import BooleanField, CharField, DateTimeField, IntegerField, Model, TextField
from playhouse.migrate import SchemaMigrator
from playhouse.migrations import MigrationError, Runner
from playhouse.schema_diff import diff_models

from models import ALL_TABLES, JobRun, database, migrations
from models.db import utcnow

SCRIPTS = [p.stem for p in sorted(migrations.DIRECTORY.glob("[0-9]*.py"))]
APP_TABLES = {t._meta.table_name for t in ALL_TABLES}


@pytest.fixture(autouse=True)
def _latest_schema_afterwards(db: None) -> Iterator[None]:
    """Every test here may leave the database in pieces; the next one gets it whole."""
    yield
    migrations.drop_all()
    migrations.upgrade()


def _schema() -> dict[str, dict[str, object]]:
    """Every table's columns, indexes and foreign keys, as the database reports them."""
    db = database.obj
    return {
        table: {
            "columns": {c.name: c._replace(table=None) for c in db.get_columns(table)},
            "indexes": {
                ix.name: (tuple(ix.columns), ix.unique, " ".join((ix.sql or "").split()))
                for ix in db.get_indexes(table)
            },
            "foreign_keys": sorted(db.get_foreign_keys(table)),
        }
        for table in db.get_tables()
    }


def _new_database_schema() -> dict[str, dict[str, object]]:
    migrations.drop_all()
    migrations.upgrade()
    return _schema()


def _history() -> list[str]:
    return sorted(Runner(database.obj, table_name="schema_migration").applied())


def _schema_drift() -> str:
    """What playhouse.schema_diff finds between the tables and the models ('' for nothing)."""
    return str(diff_models(database.obj, ALL_TABLES))


def test_a_new_database_runs_every_script_in_order(db):
    migrations.drop_all()
    assert not set(database.get_tables()) & APP_TABLES

    done = migrations.upgrade()

    assert SCRIPTS == [
        "0001_initial",
        "0002_job_eta_and_list_indexes",
        "0003_job_run_api_requests",
        "0004_user_session_version",
        "0005_audit_log",
        "0006_user_ids_never_reused",
        "0007_compared_with",
        "0008_user_image_url",
        "0009_access_by_consent",
        "0010_job_run_failure_streak",
        "0012_groups",
        "0013_first_saved_and_held_counts",
        "0014_picture",
        "0015_gone_artists_index",
    ]
    assert (done.before, done.after, done.applied, done.carried_over) == (
        None,
        migrations.LATEST,
        tuple(SCRIPTS),
        (),
    )
    assert migrations.LATEST == 15
    assert _history() == SCRIPTS
    assert set(database.get_tables()) >= APP_TABLES
    assert migrations.current_version() == migrations.LATEST
    assert _schema_drift() == ""


def test_upgrading_an_up_to_date_schema_changes_nothing(db):
    before = _schema()

    done = migrations.upgrade()

    assert (done.before, done.after, done.applied) == (migrations.LATEST, migrations.LATEST, ())
    assert _schema() == before


def test_the_scripts_make_the_very_tables_the_models_describe(db):
    # Names, types, nullability and defaults of columns, index names and SQL, foreign keys:
    # more than schema_diff compares (column and index names only).
    migrations.drop_all()
    database.create_tables(ALL_TABLES)
    from_models = _schema()

    from_scripts = _new_database_schema()

    assert {t: s for t, s in from_scripts.items() if t != "schema_migration"} == from_models


def test_the_scripts_import_nothing_of_the_app_so_they_never_change(db):
    for path in migrations.DIRECTORY.glob("[0-9]*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        # peewee, and playhouse.migrate for the type of ``up``'s migrator: libraries only.
        assert imported <= {"peewee", "playhouse.migrate"}, path.name


def test_a_new_job_run_has_made_no_api_requests(db):
    run = JobRun.create(message_id="m", actor="update_user", queue="interactive")

    assert JobRun.get_by_id(run.id).api_requests == 0


def test_every_query_path_has_an_index(db):
    def indexed(table: str) -> set[tuple[str, ...]]:
        return {tuple(ix.columns) for ix in database.get_indexes(table)}

    assert ("spotify_id",) in indexed("user")
    assert ("friend_code",) in indexed("user")
    assert ("spotify_id",) in indexed("artist")
    assert ("artist_id", "month") in indexed("artist_listeners")
    assert ("user_id", "artist_id", "source") in indexed("user_artist")
    assert ("artist_id",) in indexed("user_artist")
    assert ("status", "id") in indexed("job_runs")
    assert ("actor", "id") in indexed("job_runs")
    assert ("status", "resume_at") in indexed("job_runs")


def test_deleting_a_user_removes_their_links_but_not_the_artists(db):
    from models import Artist, User, UserArtist
    from models.artist import ArtistFields

    user = User.sign_in("ana", "Ana", {"access_token": "t"})
    ids = Artist.upsert_many([ArtistFields("a1", "One", "https://x/a1")])
    UserArtist.link_many(user.id, ids.values(), "followed")

    user.delete_instance()

    assert UserArtist.select().count() == 0
    assert Artist.select().count() == 1


# --- Databases of the old bookkeeping ------------------------------------------------------


class _OldStamp(Model):
    """The old bookkeeping's table, as it was."""

    version = IntegerField()

    class Meta:
        database = database
        table_name = "schema_version"


class _OldJobRun(Model):
    """A job run as any version of the table takes it: only the columns version 1 had."""

    message_id = CharField()
    actor = CharField()
    args = TextField()
    queue = CharField()
    status = CharField()
    pages_loaded = IntegerField()
    progress_current = IntegerField()
    attempts = IntegerField()
    cancel_requested = BooleanField()
    enqueued_at = DateTimeField()

    class Meta:
        database = database
        table_name = "job_runs"


def _undo_0015(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_index("artist", "artist_gone"))


def _undo_0014(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_table("picture"))


def _undo_0013(migrator: SchemaMigrator) -> None:
    migrator.migrate(
        migrator.drop_table("held_count"),
        migrator.drop_column("user_artist", "added_at"),
        *(
            migrator.drop_column("user", f"{name}_count")
            for name in ("artist", "followed", "saved_track", "saved_album")
        ),
    )


def _undo_0012(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_table("group_member"), migrator.drop_table("friend_group"))


def _undo_0010(migrator: SchemaMigrator) -> None:
    migrator.migrate(
        migrator.drop_index("job_runs", "job_runs_status_resume_at"),
        migrator.drop_column("job_runs", "failures_since_progress"),
        migrator.drop_column("job_runs", "failing_since"),
        migrator.drop_column("job_runs", "pages_at_failure"),
    )


def _undo_0009(migrator: SchemaMigrator) -> None:
    migrator.migrate(
        migrator.drop_column("compared_with", "via_code"),
        migrator.drop_column("compared_with", "barred_code"),
    )


def _undo_0008(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_column("user", "image_url"))


def _undo_0007(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_table("compared_with"))


def _undo_0006(migrator: SchemaMigrator) -> None:
    # Nothing: the models make ``user`` without AUTOINCREMENT, as it was before 0006, and
    # the columns, indexes and keys compared here are the same either way.
    pass


def _undo_0005(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_table("audit_log"))


def _undo_0004(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_column("user", "session_version"))


def _undo_0003(migrator: SchemaMigrator) -> None:
    migrator.migrate(migrator.drop_column("job_runs", "api_requests"))


def _undo_0002(migrator: SchemaMigrator) -> None:
    migrator.migrate(
        migrator.drop_index("job_runs", "job_runs_status_id"),
        migrator.drop_index("job_runs", "job_runs_actor_id"),
        migrator.drop_column("job_runs", "eta_at"),
    )


# What each script changed, taken back from the tables the models make today. A new
# script that changes a table adds its own here.
UNDO: dict[int, Callable[[SchemaMigrator], None]] = {
    15: _undo_0015,
    14: _undo_0014,
    13: _undo_0013,
    12: _undo_0012,
    10: _undo_0010,
    9: _undo_0009,
    8: _undo_0008,
    7: _undo_0007,
    6: _undo_0006,
    5: _undo_0005,
    4: _undo_0004,
    3: _undo_0003,
    2: _undo_0002,
}


def _build_the_old_way(version: int) -> None:
    """A database as the old bookkeeping left it at ``version``: the tables created from
    the models of the day, and a ``schema_version`` row."""
    numbers = [int(name[:4]) for name in SCRIPTS]
    assert sorted(UNDO) == [n for n in numbers if n >= 2], "UNDO misses a script"
    migrations.drop_all()
    database.create_tables(ALL_TABLES)
    migrator = SchemaMigrator.from_database(database)
    with migrator.migration_context():
        for number in sorted((n for n in UNDO if n > version), reverse=True):
            UNDO[number](migrator)
        _OldStamp.create_table()
        _OldStamp.create(version=version)


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_database_is_carried_over_and_upgraded_in_place_keeping_its_rows(db, version):
    new = _new_database_schema()

    # Given a database of the old bookkeeping, stamped `version`, with a job run in it.
    _build_the_old_way(version)
    _OldJobRun.create(
        message_id="kept",
        actor="update_user",
        args="[]",
        queue="interactive",
        status="succeeded",
        pages_loaded=3,
        progress_current=0,
        attempts=1,
        cancel_requested=False,
        enqueued_at=utcnow(),
    )
    assert _schema() != new
    assert migrations.current_version() == version

    done = migrations.upgrade()

    # Then the scripts up to `version` are recorded, not run, and the rest run.
    assert done.before == version
    assert done.carried_over == tuple(SCRIPTS[:version])
    assert done.applied == tuple(SCRIPTS[version:])
    assert done.after == migrations.LATEST
    assert _history() == SCRIPTS
    # It has the very tables a new database gets (the old stamp gone), and its rows.
    assert _schema() == new
    assert _schema_drift() == ""
    kept = JobRun.get(JobRun.message_id == "kept")
    assert (kept.pages_loaded, kept.api_requests, kept.eta_at) == (3, 0, None)
    assert (kept.failures_since_progress, kept.failing_since) == (0, None)
    assert migrations.upgrade().applied == ()


def test_an_old_stamp_that_no_scripts_match_is_refused_and_left_alone(db):
    _build_the_old_way(migrations.LATEST)
    _OldStamp.update(version=migrations.LATEST + 5).execute()

    with pytest.raises(MigrationError, match="no scripts here match"):
        migrations.upgrade()

    assert _OldStamp.get().version == migrations.LATEST + 5
    assert not database.table_exists("schema_migration")


# --- Failures and concurrency -------------------------------------------------------------


def _scripts_then_a_broken_one(folder: Path) -> None:
    for script in migrations.DIRECTORY.glob("[0-9]*.py"):
        shutil.copy(script, folder)
    (folder / f"{migrations.LATEST + 1:04d}_breaks.py").write_text(
        "from peewee import IntegerField\n\n\n"
        "def up(migrator, db):\n"
        '    migrator.migrate(migrator.add_column("job_runs", "half_done", '
        "IntegerField(null=True)))\n"
        '    raise RuntimeError("the script broke")\n'
    )


def test_a_script_that_fails_leaves_the_database_as_it_was(db, monkeypatch, tmp_path):
    before = _schema()
    _scripts_then_a_broken_one(tmp_path)
    monkeypatch.setattr(migrations, "DIRECTORY", tmp_path)

    with pytest.raises(RuntimeError, match="the script broke"):
        migrations.upgrade()

    assert migrations.current_version() == migrations.LATEST
    assert _history() == SCRIPTS
    assert _schema() == before


def test_a_failure_on_a_new_database_leaves_it_empty(db, monkeypatch, tmp_path):
    migrations.drop_all()
    _scripts_then_a_broken_one(tmp_path)
    monkeypatch.setattr(migrations, "DIRECTORY", tmp_path)

    with pytest.raises(RuntimeError, match="the script broke"):
        migrations.upgrade()

    assert not set(database.get_tables()) & (APP_TABLES | {"schema_migration"})
    assert migrations.current_version() is None


def test_two_upgrades_at_once_apply_each_script_once(db, monkeypatch):
    # Given a new database, and a first upgrade held up just before it runs the scripts.
    migrations.drop_all()
    first_inside, let_first_go = threading.Event(), threading.Event()
    real_up = Runner.up
    held: list[bool] = []

    def up_held_the_first_time(self, *args, **kwargs):
        if not held:
            held.append(True)
            first_inside.set()
            let_first_go.wait(10)
        return real_up(self, *args, **kwargs)

    monkeypatch.setattr(Runner, "up", up_held_the_first_time)
    results: dict[str, object] = {}

    def upgrade(name: str) -> None:
        try:
            results[name] = migrations.upgrade()
        except Exception as exc:  # the test reports it below
            results[name] = exc
        finally:
            database.close()

    first = threading.Thread(target=upgrade, args=("first",))
    first.start()
    assert first_inside.wait(10)

    # When a second upgrade starts meanwhile, it waits for the first.
    second = threading.Thread(target=upgrade, args=("second",))
    second.start()
    second.join(1.0)
    assert second.is_alive(), results.get("second")
    let_first_go.set()
    first.join(30)
    second.join(30)

    # Then the first ran every script, and the second found nothing left to do.
    assert results["first"].applied == tuple(SCRIPTS)
    assert results["second"] == migrations.Upgrade(migrations.LATEST, migrations.LATEST)
    assert _history() == SCRIPTS
