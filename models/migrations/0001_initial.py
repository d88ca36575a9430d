"""The first schema: people, artists, their listener counts and links, and job runs.

The tables are frozen copies, as they were when this script shipped, deliberately
independent of the application's models (which move on). Python-side defaults are left
out: they put nothing in the DDL. The app's JSON columns are plain TEXT here.
"""

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    Database,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)
from playhouse.migrate import SchemaMigrator

# The statuses of a run not yet ended, as the status column spelled them then.
ACTIVE = ("queued", "running", "retrying")


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Create the five tables with their indexes."""

    class Frozen(Model):
        class Meta:
            database = db
            # Index names from the table names ("job_runs_finished_at"), as the app's
            # models have them.
            legacy_table_names = False

    class Artist(Frozen):
        spotify_id = CharField(max_length=64, unique=True)
        name = TextField(null=True)
        url = TextField(null=True)
        image_url = TextField(null=True)
        details_complete = BooleanField()
        gone_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            table_name = "artist"

    class ArtistListeners(Frozen):
        artist = ForeignKeyField(Artist, on_delete="CASCADE")
        month = CharField(max_length=7)
        monthly_listeners = BigIntegerField(null=True)
        read_at = DateTimeField()

        class Meta:
            table_name = "artist_listeners"
            indexes = ((("artist", "month"), True),)

    class User(Frozen):
        spotify_id = CharField(max_length=128, unique=True)
        account_id = CharField(max_length=128, null=True)
        display_name = TextField(null=True)
        friend_code = CharField(max_length=16, unique=True)
        token_json = TextField(null=True)
        needs_reauth = BooleanField()
        last_login_at = DateTimeField(null=True)
        last_synced_at = DateTimeField(null=True)
        created_at = DateTimeField()

        class Meta:
            table_name = "user"

    class UserArtist(Frozen):
        user = ForeignKeyField(User, on_delete="CASCADE")
        artist = ForeignKeyField(Artist, on_delete="CASCADE")
        source = CharField(max_length=16)
        seen_at = DateTimeField()

        class Meta:
            table_name = "user_artist"
            indexes = (
                (("user", "artist", "source"), True),
                (("artist",), False),
            )

    class JobRun(Frozen):
        message_id = CharField(max_length=64, unique=True)
        actor = CharField(max_length=64)
        args = TextField()
        subject = CharField(max_length=128, null=True)
        queue = CharField(max_length=32)
        status = CharField(max_length=16)
        requested_by = CharField(max_length=64, null=True)
        totals = TextField(null=True)
        pages_loaded = IntegerField()
        pages_total = IntegerField(null=True)
        checkpoint = TextField(null=True)
        progress_current = IntegerField()
        progress_total = IntegerField(null=True)
        progress_message = TextField(null=True)
        attempts = IntegerField()
        error = TextField(null=True)
        traceback = TextField(null=True)
        cancel_requested = BooleanField()
        enqueued_at = DateTimeField()
        sent_at = DateTimeField(null=True)
        started_at = DateTimeField(null=True)
        heartbeat_at = DateTimeField(null=True)
        resume_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)

        class Meta:
            table_name = "job_runs"
            indexes = (
                (("subject", "actor", "enqueued_at"), False),
                (("status", "heartbeat_at"), False),
                (("actor", "status"), False),
                (("finished_at",), False),
            )

    # One active run per actor and subject, enforced when a row is inserted.
    JobRun.add_index(
        JobRun.index(JobRun.actor, JobRun.subject, unique=True, name="job_runs_one_active").where(
            JobRun.status.in_(ACTIVE)
        )
    )

    db.create_tables([Artist, ArtistListeners, User, UserArtist, JobRun])
