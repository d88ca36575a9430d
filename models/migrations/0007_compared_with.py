"""The people a person has compared with (models/compared.py): the home page's list."""

from peewee import BooleanField, Database, DateTimeField, FloatField, ForeignKeyField, Model
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Create ``compared_with`` with its unique (owner, other) index and the list's index."""

    # Frozen copies, as 0001 does: the app's models may move on.
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class ComparedWith(Model):
        owner = ForeignKeyField(User, on_delete="CASCADE")
        other = ForeignKeyField(User, on_delete="CASCADE")
        match = FloatField(null=True)
        seen_at = DateTimeField()
        hidden = BooleanField(default=False)

        class Meta:
            database = db
            table_name = "compared_with"
            legacy_table_names = False
            indexes = (
                (("owner", "other"), True),
                (("owner", "hidden", "seen_at"), False),
            )

    db.create_tables([ComparedWith])
