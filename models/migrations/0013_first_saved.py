"""Each library link keeps when the person saved it (issue 20, "who found it first").

A saved track or album comes with Spotify's ``added_at``; the sync keeps on each
``user_artist`` link the earliest of those among the items of that source that carry the
artist. Followed artists have no such date, and links made before this migration have none
until their next sync reads one.
"""

from peewee import Database, DateTimeField
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``user_artist.added_at`` (null: followed, or not read since this release)."""
    migrator.migrate(migrator.add_column("user_artist", "added_at", DateTimeField(null=True)))
