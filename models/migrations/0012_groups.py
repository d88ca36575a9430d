"""Groups of friends (models/group.py): the group, and who is in it or invited."""

from peewee import CharField, Database, DateTimeField, ForeignKeyField, IntegerField, Model
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Create ``friend_group`` and ``group_member`` with their unique indexes."""

    # Frozen copies, as 0001 does: the app's models may move on.
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Group(Model):
        key = CharField(max_length=32, unique=True)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "friend_group"
            legacy_table_names = False

    class GroupMember(Model):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="CASCADE")
        number = IntegerField()
        invited_at = DateTimeField()
        joined_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "group_member"
            legacy_table_names = False
            indexes = (
                (("group", "user"), True),
                (("group", "number"), True),
            )

    db.create_tables([Group, GroupMember])
