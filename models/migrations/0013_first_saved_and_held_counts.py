"""Issue 20: when each link was saved, and each person's totals and counts kept beside them.

A saved track or album comes with Spotify's ``added_at``; the sync keeps on each
``user_artist`` link the earliest of those among the items of that source that carry the
artist (``user_artist.added_at``; followed artists have none, and links made before this
migration have none until their next sync reads it).

Each user row keeps how many artists the person has and their links per source, and
``held_count`` (models/held_counts.py) holds, for each person, the listener rows of the
artists they have, so that a comparison reads a person's counts in order from one index
range; it is filled here from the rows already there.
"""

from peewee import (
    SQL,
    BigIntegerField,
    CharField,
    CompositeKey,
    Database,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
)
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``user_artist.added_at`` and each user's totals, create ``held_count``, and
    fill the new totals and table from the rows there."""
    # Defaults in the database too (as migration 0003 explains): the processes of the
    # previous release keep inserting users without the columns during a deploy.
    counts = ("artist_count", "followed_count", "saved_track_count", "saved_album_count")
    migrator.migrate(
        migrator.add_column("user_artist", "added_at", DateTimeField(null=True)),
        *(
            migrator.add_column(
                "user", name, IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
            )
            for name in counts
        ),
    )
    db.execute_sql(
        'UPDATE "user" SET "artist_count" = (SELECT COUNT(DISTINCT "artist_id") '
        'FROM "user_artist" WHERE "user_id" = "user"."id"), '
        + ", ".join(
            f'"{source}_count" = (SELECT COUNT(*) FROM "user_artist" '
            f'WHERE "user_id" = "user"."id" AND "source" = \'{source}\')'
            for source in ("followed", "saved_track", "saved_album")
        )
    )

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
