"""The operators' audit trail: one row per dashboard or CLI action."""

from peewee import CharField, Database, DateTimeField, IntegerField, Model
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Create ``audit_log`` with its index on ``at`` (the cleanup's and the list's)."""

    # A frozen copy, as 0001 does: the app's model may move on.
    class AuditEntry(Model):
        at = DateTimeField(index=True)
        who = CharField(max_length=80)
        action = CharField(max_length=32)
        target = CharField(max_length=160)
        count = IntegerField()

        class Meta:
            database = db
            table_name = "audit_log"
            legacy_table_names = False

    db.create_tables([AuditEntry])
