"""Job runs keep the failures Spotify made since they last loaded a page (issue 22).

A job that walks Spotify's pages gets a fresh budget of tries whenever it loaded a page
since its previous failure, so the row keeps how many failures came in a row without a
page, since when, and how many pages it had at the last one. A failed sync that overlap
tries again by itself keeps that moment in ``resume_at``, which the schedule looks up by
status: hence the (status, resume_at) index.
"""

from peewee import SQL, Database, DateTimeField, IntegerField
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``failures_since_progress`` (0 for the runs there), ``failing_since``,
    ``pages_at_failure`` and the (status, resume_at) index to ``job_runs``."""
    # A default in the database too (as migration 0003 explains): the processes of the
    # previous release keep inserting rows without the column during a deploy.
    migrator.migrate(
        migrator.add_column(
            "job_runs",
            "failures_since_progress",
            IntegerField(default=0, constraints=[SQL("DEFAULT 0")]),
            allow_not_null=True,
        ),
        migrator.add_column("job_runs", "failing_since", DateTimeField(null=True)),
        migrator.add_column("job_runs", "pages_at_failure", IntegerField(null=True)),
        migrator.add_index("job_runs", ("status", "resume_at")),
    )
