"""A deleted person's id is never given to someone else.

SQLite gives a new row the largest id plus one, so deleting the newest person handed
their id to the next one to sign in, and anything still naming that id (a cookie, a
queued job, a cache entry) would have named the newcomer. AUTOINCREMENT makes SQLite keep
the largest id it ever gave (in ``sqlite_sequence``). SQLite cannot add it to a table, so
the ``user`` table is rebuilt: the same CREATE statement with AUTOINCREMENT, every row
copied with its id, the old table dropped and the new one renamed, its indexes made again.
(The upgrade runs with foreign keys off, so dropping the old table leaves ``user_artist``
as it was, and its references name the table by name.) PostgreSQL's ids come from a
sequence that never goes back: nothing to do there.
"""

from peewee import Database, SqliteDatabase
from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    """Rebuild ``user`` with ``id ... PRIMARY KEY AUTOINCREMENT`` on SQLite."""
    if not isinstance(db, SqliteDatabase):
        return
    create = db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user'"
    ).fetchone()[0]
    if "AUTOINCREMENT" in create.upper():
        return
    indexes = [
        row[0]
        for row in db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user'"
            " AND sql IS NOT NULL"
        ).fetchall()
    ]
    # Peewee wrote the table (0001), so its id column reads exactly so.
    primary_key = '"id" INTEGER NOT NULL PRIMARY KEY'
    if create.count(primary_key) != 1 or not create.startswith('CREATE TABLE "user" ('):
        raise RuntimeError(f"unexpected user table: {create}")
    rebuilt = create.replace(primary_key, primary_key + " AUTOINCREMENT").replace(
        'CREATE TABLE "user" (', 'CREATE TABLE "user_rebuilt" (', 1
    )
    db.execute_sql(rebuilt)
    db.execute_sql('INSERT INTO "user_rebuilt" SELECT * FROM "user"')
    db.execute_sql('DROP TABLE "user"')
    db.execute_sql('ALTER TABLE "user_rebuilt" RENAME TO "user"')
    for index in indexes:
        db.execute_sql(index)
