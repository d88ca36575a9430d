"""Column types shared by the tables."""

from __future__ import annotations

import json
from typing import Any

from peewee import TextField

# Where a person has an artist from, in the order pages list them.
SOURCES = ("followed", "saved_track", "saved_album")


class JSONField(TextField):
    """A JSON value stored as text, the same on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)
