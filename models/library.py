"""A person's library as pages show it: their artists with sources and listener counts."""

from __future__ import annotations

from dataclasses import dataclass

from models.artist import Artist, ArtistListeners
from models.db import database
from models.fields import SOURCES
from models.user import UserArtist

SORTS = {
    "name": "LOWER(a.name) ASC, a.spotify_id ASC",
    "-name": "LOWER(a.name) DESC, a.spotify_id DESC",
    # Unknown counts last either way, so that the known ones lead.
    "listeners": "l.monthly_listeners IS NULL, l.monthly_listeners ASC, a.spotify_id ASC",
    "-listeners": "l.monthly_listeners IS NULL, l.monthly_listeners DESC, a.spotify_id ASC",
}


@dataclass(frozen=True)
class LibraryArtist:
    """One artist of a person's library."""

    spotify_id: str
    name: str
    url: str | None
    monthly_listeners: int | None
    has_row: bool  # False: still waiting for its listener count this month
    sources: list[str]


def library_page(
    user_id: int, month: str, sort: str = "name", limit: int = 50, offset: int = 0
) -> tuple[int, list[LibraryArtist]]:
    """The total and one page of the user's distinct artists, in ``sort`` order."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    p = database.param
    ua, a, al = (
        UserArtist._meta.table_name,
        Artist._meta.table_name,
        ArtistListeners._meta.table_name,
    )
    total = database.execute_sql(
        f'SELECT COUNT(DISTINCT artist_id) FROM "{ua}" WHERE user_id = {p}', (user_id,)
    ).fetchone()[0]
    rows = database.execute_sql(
        f"SELECT a.id, a.spotify_id, a.name, a.url, l.monthly_listeners, l.id IS NOT NULL "
        f'FROM "{a}" AS a '
        f'JOIN (SELECT DISTINCT artist_id FROM "{ua}" WHERE user_id = {p}) AS mine '
        f"  ON mine.artist_id = a.id "
        f'LEFT JOIN "{al}" AS l ON l.artist_id = a.id AND l.month = {p} '
        f"ORDER BY {SORTS[sort]} LIMIT {p} OFFSET {p}",
        (user_id, month, max(1, min(limit, 200)), max(0, offset)),
    ).fetchall()
    sources: dict[int, list[str]] = {row[0]: [] for row in rows}
    if rows:
        marks = ", ".join([p] * len(rows))
        for artist_id, source in database.execute_sql(
            f'SELECT artist_id, source FROM "{ua}" WHERE user_id = {p} AND artist_id IN ({marks})',
            (user_id, *sources),
        ):
            sources[artist_id].append(source)
    return total, [
        LibraryArtist(
            spotify_id=row[1],
            name=row[2] or row[1],
            url=row[3],
            monthly_listeners=row[4],
            has_row=bool(row[5]),
            sources=[s for s in SOURCES if s in sources[row[0]]],
        )
        for row in rows
    ]
