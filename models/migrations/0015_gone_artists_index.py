"""An index of the artists Spotify no longer knows, for each person's pending count.

A person's artists still waiting for this month's count are those without a row of the
month, less the gone ones (which never get one after the month they were found gone).
The comparison counts the gone ones from this index: few rows, where a pass over the
person's whole library took milliseconds on every poll (models/comparison_reads.py).
"""

from peewee import Database
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Create the partial index ``artist_gone``."""
    db.execute_sql('CREATE INDEX "artist_gone" ON "artist" ("id") WHERE ("gone_at" IS NOT NULL)')
