"""People's sessions carry a version that sign-out raises."""

from peewee import SQL, Database, IntegerField
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``user.session_version``, not null, 0 for the people already there."""
    # A default in the database too, as in 0003: the previous release's processes keep
    # inserting users without this column during a deploy.
    migrator.migrate(
        migrator.add_column(
            "user",
            "session_version",
            IntegerField(default=0, constraints=[SQL("DEFAULT 0")]),
            allow_not_null=True,
        )
    )
