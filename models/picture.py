"""Pictures of people and artists, fetched by a worker and kept small for the share card.

The web process never fetches a picture while answering a request: a worker job
(``sync/pictures.py``) reads each one once, scales it down and keeps it here, by the
address Spotify gave for it. The share card draws what is here and initials for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from peewee import BlobField, DateTimeField, TextField

from models.db import BaseModel, tuple_rows, utcnow


class Picture(BaseModel):
    """One picture as fetched from its address: a small square PNG, or none (``data``
    null) when the address answered something that is not a picture."""

    url = TextField(primary_key=True)
    data = BlobField(null=True)
    fetched_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "picture"

    @classmethod
    def cached(cls, urls: Iterable[str | None]) -> dict[str, bytes]:
        """The pictures held for these addresses, by address (the missing ones absent)."""
        wanted = sorted({u for u in urls if u})
        if not wanted:
            return {}
        query = cls.select(cls.url, cls.data).where(cls.url.in_(wanted), cls.data.is_null(False))
        return {url: bytes(data) for url, data in tuple_rows(query)}

    @classmethod
    def missing(cls, urls: Iterable[str | None]) -> list[str]:
        """Those of these addresses never fetched (a failed fetch is not tried again)."""
        wanted = sorted({u for u in urls if u})
        if not wanted:
            return []
        held = {url for (url,) in tuple_rows(cls.select(cls.url).where(cls.url.in_(wanted)))}
        return [u for u in wanted if u not in held]

    @classmethod
    def keep(cls, url: str, data: bytes | None) -> None:
        """Store what fetching ``url`` gave (None: not a picture), replacing any older copy."""
        cls.insert(url=url, data=data, fetched_at=utcnow()).on_conflict(
            conflict_target=[cls.url], update={cls.data: data, cls.fetched_at: utcnow()}
        ).execute()
