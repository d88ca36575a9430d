from typing import Any

from peewee import PostgresqlDatabase

class PooledDatabase:
    def __init__(
        self,
        database: str | None,
        max_connections: int = 20,
        stale_timeout: float | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None: ...

class PooledPostgresqlDatabase(PooledDatabase, PostgresqlDatabase): ...
