"""Issue 20: when each link was saved, and each person's listener counts kept beside them.

A saved track or album comes with Spotify's ``added_at``; the sync keeps on each
``user_artist`` link the earliest of those among the items of that source that carry the
artist (``user_artist.added_at``; followed artists have none, and links made before this
migration have none until their next sync reads it).

``held_count`` (models/held_counts.py) holds, for each person, the listener rows of the
artists they have, so that a comparison reads a person's counts in order from one index
range; it is filled here from the rows already there.
"""

from peewee import (
    BigIntegerField,
    CharField,
    CompositeKey,
    Database,
    DateTimeField,
    ForeignKeyField,
    Model,
)
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``user_artist.added_at``, create ``held_count`` and fill it."""
    migrator.migrate(migrator.add_column("user_artist", "added_at", DateTimeField(null=True)))

    # Frozen copies, as 0001 does: the app's models may move on.
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Artist(Model):
        class Meta:
            database = db
            table_name = "artist"

    class HeldCount(Model):
        user = ForeignKeyField(User, on_delete="CASCADE", index=False)
        artist = ForeignKeyField(Artist, on_delete="CASCADE")
        month = CharField(max_length=7)
        monthly_listeners = BigIntegerField(null=True)

        class Meta:
            database = db
            table_name = "held_count"
            legacy_table_names = False
            primary_key = CompositeKey("user", "artist", "month")
            indexes = ((("user", "month", "monthly_listeners", "artist"), False),)

    db.create_tables([HeldCount])
    db.execute_sql(
        'INSERT INTO "held_count" ("user_id", "artist_id", "month", "monthly_listeners") '
        'SELECT DISTINCT "ua"."user_id", "l"."artist_id", "l"."month", "l"."monthly_listeners" '
        'FROM "user_artist" AS ua JOIN "artist_listeners" AS l '
        'ON "l"."artist_id" = "ua"."artist_id"'
    )
