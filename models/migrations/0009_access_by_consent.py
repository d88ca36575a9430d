"""Access by consent (models/compared.py): how each person came onto a list, and who is barred.

Rows from before stay and count as their owner's own act (``via_code`` empty), so a new
friend code does not end them; each owner can see and cut them. A row its owner had
removed ("hidden") is barred through the owner's current code, as a removal is now.
"""

from peewee import CharField, Database
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Add ``compared_with.via_code`` and ``barred_code``; bar the rows already removed."""
    migrator.migrate(
        migrator.add_column("compared_with", "via_code", CharField(max_length=16, null=True)),
        migrator.add_column("compared_with", "barred_code", CharField(max_length=16, null=True)),
    )
    db.execute_sql(
        'UPDATE compared_with SET barred_code = (SELECT friend_code FROM "user" '
        'WHERE "user".id = compared_with.owner_id) WHERE hidden'
    )
