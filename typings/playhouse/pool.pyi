from typing import Any

from peewee import PostgresqlDatabase

class PooledDatabase:
    # (what models/db.py's CheckedPool uses of the pool's inside)
    _max_connections: int
    _adapter: Any
    _state: Any
    def __init__(
        self,
        database: str | None,
        max_connections: int = 20,
        stale_timeout: float | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None: ...
    def connect(self, reuse_if_open: bool = False) -> bool: ...
    def manual_close(self) -> bool: ...
    def _is_closed(self, conn: Any) -> bool: ...

class PooledPostgresqlDatabase(PooledDatabase, PostgresqlDatabase): ...
