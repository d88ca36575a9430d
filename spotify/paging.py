"""Reading the Web API's paged answers: cursor pages (followed artists) and offset pages.

Spotify's pages are loosely kept: null items, missing cursors, ``next`` links that do not
move. The readers check the shape, raise ``BadResponse`` when it is wrong, and end a list
rather than loop forever on a page that does not advance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from spotify.errors import BadResponse


@dataclass(frozen=True)
class CursorPage:
    """One page of a cursor-paged list (followed artists)."""

    items: list[dict[str, Any]]
    next_after: str | None
    total: int


@dataclass(frozen=True)
class OffsetPage:
    """One page of an offset-paged list (saved tracks, saved albums)."""

    items: list[dict[str, Any]]
    total: int
    next_offset: int | None


def cursor_page(data: Any, what: str) -> CursorPage:
    """Read a cursor-paged answer."""
    if not isinstance(data, dict):
        raise BadResponse(f"Spotify's answer has no page of {what}")
    items, total = _items(data, what), _total(data, what)
    next_after = None
    if data.get("next"):
        cursors = data.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not isinstance(after, str) or not after:
            after = _query_param(data["next"], "after")
        next_after = after
    return CursorPage(items=items, next_after=next_after, total=total)


def offset_page(data: dict[str, Any], offset: int, what: str) -> OffsetPage:
    """Read an offset-paged answer; the next offset comes from its ``next`` link."""
    raw = data.get("items")
    items, total = _items(data, what), _total(data, what)
    next_offset = None
    if data.get("next") and raw:
        from_link = _query_param(data["next"], "offset")
        if from_link is not None and re.fullmatch(r"[0-9]{1,9}", from_link):
            next_offset = int(from_link)
        else:
            next_offset = offset + len(raw)
        # An offset that does not move forward would loop forever; treat it as the end.
        if next_offset <= offset:
            next_offset = None
    return OffsetPage(items=items, total=total, next_offset=next_offset)


def _items(data: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """The items of a page, skipping the null entries Spotify sometimes sends."""
    items = data.get("items")
    if not isinstance(items, list) or not all(i is None or isinstance(i, dict) for i in items):
        raise BadResponse(f"Spotify's page of {what} has no list of items")
    return [i for i in items if i is not None]


def _total(data: dict[str, Any], what: str) -> int:
    total = data.get("total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise BadResponse(f"Spotify's page of {what} has no total")
    return total


def _query_param(url: Any, name: str) -> str | None:
    """One query parameter of a ``next`` URL, if there is one."""
    if not isinstance(url, str):
        return None
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None
