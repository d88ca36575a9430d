import datetime
from types import ModuleType
from typing import NamedTuple

from peewee import Database
from playhouse.migrate import SchemaMigrator

class MigrationError(Exception): ...

class Migration(NamedTuple):
    idx: int
    name: str
    path: str | None  # None: recorded as applied, but its file is not in the directory
    applied: datetime.datetime | None  # None: pending
    @classmethod
    def load_directory(cls, directory: str) -> list[Migration]: ...
    def load(self) -> ModuleType: ...

class Runner:
    database: Database
    directory: str
    table_name: str
    schema: str | None
    migrator: SchemaMigrator
    def __init__(
        self,
        database: Database,
        directory: str = "migrations",
        table_name: str = "schema_migration",
        schema: str | None = None,
    ) -> None: ...
    def migrations(self) -> list[Migration]: ...
    def applied(self) -> dict[str, datetime.datetime]: ...
    def status(self) -> list[Migration]: ...
    def up(self, target: str | None = None, fake: bool = False) -> list[str]: ...
    def down(self, target: str | None = None) -> list[str]: ...
    def fake(self, target: str | None = None) -> list[str]: ...
