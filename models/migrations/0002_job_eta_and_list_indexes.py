"""Job runs get an ETA, and indexes for the dashboard's newest-first lists.

This was version 2 of the old ``schema_version`` bookkeeping, unchanged.
"""

from peewee import Database, DateTimeField
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``job_runs.eta_at`` and the (status, id) and (actor, id) indexes."""
    migrator.migrate(
        migrator.add_column("job_runs", "eta_at", DateTimeField(null=True)),
        migrator.add_index("job_runs", ("status", "id")),
        migrator.add_index("job_runs", ("actor", "id")),
    )
