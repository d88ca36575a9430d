"""People's Spotify profile pictures, shown in each other's "Your people" lists."""

from peewee import Database, TextField
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``user.image_url`` (null: Spotify has no picture of many people)."""
    migrator.migrate(migrator.add_column("user", "image_url", TextField(null=True)))
