"""The values of a comparison as its page, its poll and the API show it.

Reading a comparison sends no work: the routes that want the missing listener counts
sooner call ``ask_for_missing_counts`` themselves, where it shows.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import bottle
import redis

from jobs.shared_first import send_shared_first
from models import User, current_month
from models.comparison import SORTS, only_page
from web.http import request_context, security_headers
from web.http.services import Services
from web.state.comparison_cache import ComparisonRefused
from web.state.spotify_pause import counts_resume_at
from web.views.sync_status import sync_view

# Shared artists on one page of a comparison.
COMPARISON_PAGE_SIZE = 50
# The rarest shared artists shown as pictures above the table.
GRID_SIZE = 12


def counts_eta_s(settings_rate: float, pending: int) -> int:
    """About how many seconds the listener counts of ``pending`` artists take: the artist
    pages are read at ``SPOTIFY_PAGES_RATE`` (``settings_rate``) for every worker together."""
    rate = max(settings_rate, 0.1)
    return max(1, round(pending / rate))


def read_comparison(
    services: Services,
    me: User,
    friend: User,
    sort: str,
    limit: int = COMPARISON_PAGE_SIZE,
    offset: int = 0,
) -> dict[str, Any] | None:
    """The values of the comparison fragment, or None for an unknown sort. Sends nothing."""
    if sort not in SORTS:
        return None
    result = services.comparisons.compare(
        me, friend, current_month(), limit=limit, offset=offset, sort=sort
    )
    my_sync, their_sync = sync_view(me), sync_view(friend)
    syncing = my_sync["active"] or their_sync["active"]
    loaded = me.last_synced_at is not None and friend.last_synced_at is not None
    pending = result.pending_shared
    return {
        "me": me,
        "friend": friend,
        "c": result,
        "my_sync": my_sync,
        "their_sync": their_sync,
        "complete": loaded and not syncing and pending == 0,
        # Spotify paused the counts (a 429 of hours): the page says until when.
        "counts_resume_at": (
            counts_resume_at(services.redis_ref, services.settings) if pending else None
        ),
        "counts_eta_s": (
            counts_eta_s(services.settings.spotify_pages_rate, pending) if pending else None
        ),
        # Pictures of the rarest shared artists: the first page sorted rarest first is
        # exactly them, so the grid costs no query of its own.
        "grid": (
            [(a, shown_image(a.image_url)) for a in result.shared[:GRID_SIZE]]
            if sort == "listeners" and offset == 0
            else []
        ),
        "page": offset // result.limit + 1,
        "pages": max(1, -(-result.shared_count // result.limit)),
        "sort": sort,
        # Where the comparison lives: by the friend's id, never their code.
        "base": f"/with/{friend.id}",
    }


def ask_for_missing_counts(services: Services, view: dict[str, Any]) -> None:
    """Ask for the shared artists' missing listener counts ahead of the rest, each artist
    once (jobs/shared_first.py). Nothing to ask when none is missing or Redis is away: the
    artists queue brings the counts all the same, only later."""
    if not view["c"].pending_shared or services.redis_ref is None:
        return
    with contextlib.suppress(redis.RedisError):
        send_shared_first(services.redis_ref, view["me"].id, view["friend"].id, current_month())


def shown_image(url: str | None) -> str | None:
    """``url`` when the page may load it: an http(s) picture from an origin the page's
    Content-Security-Policy allows. A picture from anywhere else would only be blocked
    (and reported), so it is drawn as a monogram instead."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    allowed = security_headers.image_origins(request_context.settings())
    return url if f"{parts.scheme}://{parts.netloc}" in allowed else None


def only_side_page(services: Services, me: User, friend: User, side: str, base: str) -> str:
    """The "see all" page of the artists only one of the two has (``side``: "you" or
    "them"), at ``base``/only-<side>; it counts against the computation budget."""
    page = request_context.whole_number(bottle.request.query.get("page") or "1", 5) or 0
    if page < 1:
        return request_context.page_error(400, "That page of the list does not exist.")
    owner, other = (me, friend) if side == "you" else (friend, me)
    try:
        # Computed from both libraries each time: it counts against the same budget.
        services.comparisons.spend(me.id)
    except ComparisonRefused as refused:
        return request_context.page_error(refused.status, str(refused), title="Cannot compare")
    total, artists = only_page(
        owner, other, current_month(), limit=COMPARISON_PAGE_SIZE,
        offset=(page - 1) * COMPARISON_PAGE_SIZE,
    )  # fmt: skip
    return request_context.render(
        "compare_only.html",
        friend=friend,
        side=side,
        base=base,
        total=total,
        artists=artists,
        page=page,
        pages=max(1, -(-total // COMPARISON_PAGE_SIZE)),
        first=(page - 1) * COMPARISON_PAGE_SIZE + 1,
    )
