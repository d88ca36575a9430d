"""Small copies of people's and artists' pictures, for the share card (models/picture.py)."""

from peewee import BlobField, Database, DateTimeField, Model, TextField
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Create ``picture``, keyed by the picture's address."""

    # A frozen copy, as 0001 does: the app's model may move on.
    class Picture(Model):
        url = TextField(primary_key=True)
        data = BlobField(null=True)
        fetched_at = DateTimeField()

        class Meta:
            database = db
            table_name = "picture"

    db.create_tables([Picture])
