"""People's Spotify profile pictures, shown in each other's "Your people" lists."""

from peewee import TextField


def up(migrator, db):
    """Add ``user.image_url`` (null: Spotify has no picture of many people)."""
    migrator.migrate(migrator.add_column("user", "image_url", TextField(null=True)))
