"""Job runs count the Spotify Web API requests they made."""

from peewee import SQL, Database, IntegerField
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``job_runs.api_requests``, not null, 0 for the runs already there."""
    # A default in the database as well as in the model: during a deploy the processes of
    # the previous release keep inserting job runs without this column, and NOT NULL
    # alone would refuse their rows. With the default, the column is added in one
    # statement (allow_not_null), instead of adding it nullable, filling it and then
    # setting NOT NULL, which on SQLite copies the whole table.
    migrator.migrate(
        migrator.add_column(
            "job_runs",
            "api_requests",
            IntegerField(default=0, constraints=[SQL("DEFAULT 0")]),
            allow_not_null=True,
        )
    )
