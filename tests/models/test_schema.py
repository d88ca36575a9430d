"""The schema is created and upgraded by one command, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from peewee import IntegerField
from playhouse.migrate import SchemaMigrator
from playhouse.schema_diff import diff_models

from models import ALL_TABLES, database, migrations


def test_upgrade_creates_every_table_and_stamps_the_latest_version(db):
    migrations.drop_all()
    assert not any(database.table_exists(t._meta.table_name) for t in ALL_TABLES)

    before, after = migrations.upgrade()

    assert before is None
    assert after == migrations.LATEST
    assert all(database.table_exists(t._meta.table_name) for t in ALL_TABLES)
    assert migrations.current_version() == migrations.LATEST
    assert _schema_drift() == ""


def test_upgrading_an_up_to_date_schema_changes_nothing(db):
    assert migrations.upgrade() == (migrations.LATEST, migrations.LATEST)


def test_every_query_path_has_an_index(db):
    def indexed(table: str) -> set[tuple[str, ...]]:
        return {tuple(ix.columns) for ix in database.get_indexes(table)}

    assert ("spotify_id",) in indexed("user")
    assert ("friend_code",) in indexed("user")
    assert ("spotify_id",) in indexed("artist")
    assert ("artist_id", "month") in indexed("artist_listeners")
    assert ("user_id", "artist_id", "source") in indexed("user_artist")
    assert ("artist_id",) in indexed("user_artist")


def test_deleting_a_user_removes_their_links_but_not_the_artists(db):
    from models import Artist, User, UserArtist
    from models.artist import ArtistFields

    user = User.sign_in("ana", "Ana", {"access_token": "t"})
    ids = Artist.upsert_many([ArtistFields("a1", "One", "https://x/a1")])
    UserArtist.link_many(user.id, ids.values(), "followed")

    user.delete_instance()

    assert UserArtist.select().count() == 0
    assert Artist.select().count() == 1


def _schema_drift() -> str:
    """What differs between the database's tables and the models ('' when nothing)."""
    return str(diff_models(database.obj, [migrations.SchemaVersion, *ALL_TABLES]))


def _column_types(table: str) -> dict[str, str]:
    return {c.name: c.data_type for c in database.get_columns(table)}


def test_a_version_1_database_is_upgraded_in_place_keeping_its_rows(db):
    from models import JobRun

    # Given a version 1 database: job runs without eta_at and the two list indexes.
    types_when_created = _column_types("job_runs")
    JobRun.create(message_id="kept", actor="update_user", queue="interactive")
    migrator = SchemaMigrator.from_database(database)
    with migrator.migration_context():
        for index in database.get_indexes("job_runs"):
            if tuple(index.columns) in {("status", "id"), ("actor", "id")}:
                migrator.migrate(migrator.drop_index("job_runs", index.name))
        migrator.migrate(migrator.drop_column("job_runs", "eta_at"))
        migrations.SchemaVersion.update(version=1).execute()
    assert _schema_drift() != ""

    assert migrations.upgrade() == (1, migrations.LATEST)

    # Then it has the very tables a new database gets, and its rows are kept.
    assert _schema_drift() == ""
    assert _column_types("job_runs") == types_when_created
    assert JobRun.get(JobRun.message_id == "kept").eta_at is None


def test_a_step_that_fails_leaves_the_database_at_its_old_version_unchanged(db, monkeypatch):
    def adds_a_column_then_fails(migrator):
        migrator.migrate(migrator.add_column("job_runs", "half_done", IntegerField(null=True)))
        raise RuntimeError("the step broke")

    monkeypatch.setattr(migrations, "STEPS", [*migrations.STEPS, adds_a_column_then_fails])
    monkeypatch.setattr(migrations, "LATEST", migrations.LATEST + 1)

    with pytest.raises(RuntimeError, match="the step broke"):
        migrations.upgrade()

    assert migrations.current_version() == migrations.LATEST - 1
    assert "half_done" not in _column_types("job_runs")
