"""The schema is created and upgraded by one command, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from models import ALL_TABLES, database, migrations


def test_upgrade_creates_every_table_and_stamps_the_latest_version(db):
    migrations.drop_all()
    assert not any(database.table_exists(t._meta.table_name) for t in ALL_TABLES)

    before, after = migrations.upgrade()

    assert before is None
    assert after == migrations.LATEST
    assert all(database.table_exists(t._meta.table_name) for t in ALL_TABLES)
    assert migrations.current_version() == migrations.LATEST


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


def test_a_version_1_database_is_upgraded_in_place_keeping_its_rows(db):
    from models import JobRun

    JobRun.create(message_id="kept", actor="update_user", queue="interactive")
    for index in database.get_indexes("job_runs"):
        if tuple(index.columns) in {("status", "id"), ("actor", "id")}:
            database.execute_sql(f'DROP INDEX "{index.name}"')
    database.execute_sql('ALTER TABLE "job_runs" DROP COLUMN "eta_at"')
    migrations.SchemaVersion.update(version=1).execute()

    assert migrations.upgrade() == (1, migrations.LATEST)

    columns = {c.name for c in database.get_columns("job_runs")}
    indexes = {tuple(ix.columns) for ix in database.get_indexes("job_runs")}
    assert "eta_at" in columns
    assert {("status", "id"), ("actor", "id")} <= indexes
    assert JobRun.get(JobRun.message_id == "kept").eta_at is None
