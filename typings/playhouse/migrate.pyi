from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from peewee import Database, DatabaseProxy, Field, Node

class Operation:
    def run(self) -> None: ...

class SchemaMigrator:
    database: Database
    @classmethod
    def from_database(
        cls, database: Database | DatabaseProxy, schema: str | None = None
    ) -> SchemaMigrator: ...
    def migrate(self, *operations: Operation) -> None: ...
    @contextmanager
    def migration_context(self, atomic: bool = True) -> Iterator[None]: ...
    # The schema operations: each gives an Operation for ``migrate`` to run.
    def add_column(
        self, table: str, column_name: str, field: Field[Any], allow_not_null: bool = False
    ) -> Operation: ...
    def add_index(
        self,
        table: str,
        columns: Sequence[str],
        unique: bool = False,
        using: str | None = None,
        where: Node | None = None,
        nulls_distinct: bool | None = None,
        name: str | None = None,
    ) -> Operation: ...
    def drop_table(
        self, table: str, safe: bool = False, cascade: bool = False, schema: str | None = None
    ) -> Operation: ...
