"""The values of a comparison as its page, its poll and the API show it.

Reading a comparison sends no work: the routes that want the missing listener counts
sooner call ``ask_for_missing_counts`` themselves, where it shows.
"""

from __future__ import annotations

import contextlib
from typing import Any

import bottle
import redis

from jobs import queueing
from jobs.shared_first import send_shared_first
from models import User, current_month
from models.comparison import SORTS, Comparison, only_page
from models.job_run import JobStatus
from spotify.images import artist_picture_widths, from_image_origin
from sync.pictures import CARD_ARTISTS
from web.http import request_context
from web.http.services import Services
from web.state.comparison_cache import ComparisonRefused
from web.state.spotify_pause import counts_resume_at
from web.views.share_card import Card, CardArtist, CardPerson, render_card
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


def counts_wait(services: Services, pending: int) -> dict[str, Any]:
    """A page's ``counts_resume_at`` (Spotify paused the counts, with a 429 of hours:
    until when) and ``counts_eta_s``, both None when no count is pending."""
    if not pending:
        return {"counts_resume_at": None, "counts_eta_s": None}
    return {
        "counts_resume_at": counts_resume_at(services.redis_ref, services.settings),
        "counts_eta_s": counts_eta_s(services.settings.spotify_pages_rate, pending),
    }


def read_comparison(
    services: Services,
    me: User,
    friend: User,
    sort: str,
    limit: int = COMPARISON_PAGE_SIZE,
    offset: int = 0,
    viewer: User | None = None,
) -> dict[str, Any] | None:
    """The values of the comparison fragment, or None for an unknown sort. Sends nothing.
    Counts against the budget of ``viewer`` (by default ``me``), who asked for it."""
    if sort not in SORTS:
        return None
    result = services.comparisons.compare(
        me, friend, current_month(), limit=limit, offset=offset, sort=sort,
        spender=(viewer or me).id,
    )  # fmt: skip
    my_sync, their_sync = sync_view(me), sync_view(friend)
    state = _state(me, friend, result, my_sync, their_sync)
    pending = result.pending_shared
    grid, table = _grid_and_table(result, state["shared_final"], sort, offset)
    return {
        "me": me,
        "friend": friend,
        "c": result,
        "my_sync": my_sync,
        "their_sync": their_sync,
        **state,
        **counts_wait(services, pending),
        "grid": grid,
        "table": table,
        "match_pct": percent(result.match),
        "match_meaning": match_meaning(result, "your", f"{friend.name}'s"),
        "verdict": verdict(result, friend.name) if state["complete"] else None,
        "page": offset // result.limit + 1,
        "pages": max(1, -(-result.shared_count // result.limit)),
        "sort": sort,
        # Where the comparison lives: by the friend's id, never their code.
        "base": f"/with/{friend.id}",
    }


def _state(
    me: User, friend: User, result: Comparison, my_sync: dict, their_sync: dict
) -> dict[str, Any]:
    """How final the comparison's figures are.

    ``shared_final``: both libraries loaded and every shared artist's count in (the match,
    the shared list and the grid no longer change). ``complete``: every figure on the page
    is final, the medians too, and no load failed ("Up to date"). ``done``: nothing more
    comes by itself, so the page stops polling (complete, or a load failed for good).
    """
    syncs = (my_sync, their_sync)
    loaded = me.last_synced_at is not None and friend.last_synced_at is not None
    syncing = any(s["active"] for s in syncs)
    failed = [s["status"] == JobStatus.FAILED for s in syncs]
    tries_again = any(s["failing"] for s in syncs)
    shared_final = loaded and not syncing and result.pending_shared == 0
    others = result.me.pending + result.friend.pending
    # A person whose load failed for good, never loaded, has nothing more coming either.
    settled = all(
        person.last_synced_at is not None or gave_up
        for person, gave_up in zip((me, friend), failed, strict=True)
    )
    return {
        "loaded": loaded,
        "shared_final": shared_final,
        "complete": shared_final and others == 0 and not any(failed),
        "provisional": others > 0 or not loaded or syncing,
        "done": settled and not syncing and not tries_again and others == 0
        and result.pending_shared == 0,
        "failed": any(failed) and not syncing,
    }  # fmt: skip


def _grid_and_table(
    result: Comparison, shared_final: bool, sort: str, offset: int
) -> tuple[list[Any] | None, list[Any]]:
    """The rarest shared artists as pictures, and the table's rows below them.

    The grid is shown on the first page of the rarest-first order only. Until every
    shared count is in, which artists are rarest is not known, so it holds its place with
    empty tiles (an empty list) instead of reshuffling as counts land. The table starts
    after the grid's places in either state, so the two never list the same artists and
    the table does not lose rows (and move the page) when the grid fills.
    """
    if sort != "listeners" or offset != 0:
        return None, result.shared
    table = result.shared[GRID_SIZE:]
    if not shared_final:
        return [], table
    return [(a, shown_image(a.image_url)) for a in result.shared[:GRID_SIZE]], table


def percent(share: float) -> str:
    """A share as the page writes it: 54%, or 0.4% below a tenth, 0% for none."""
    if share == 0:
        return "0%"
    return f"{share * 100:.1f}%" if share < 0.1 else f"{round(share * 100)}%"


def match_meaning(result: Comparison, mine: str, theirs: str) -> str:
    """The match in words: which library's share it is. ``mine`` and ``theirs`` are the
    possessives of the two people ("your", "Ben's")."""
    if result.my_share >= result.their_share:
        return f"of {mine} artists are in {theirs} library"
    return f"of {theirs} artists are in {mine} library"


# Two medians within this share of each other say nothing: the median of a library of a few
# hundred artists moves by more than that from one month's counts to the next.
VERDICT_NOISE = 0.25


def verdict(result: Comparison, friend_name: str) -> str:
    """Who listens further off the beaten track, from final medians only."""
    mine, theirs = result.me.median_monthly_listeners, result.friend.median_monthly_listeners
    if mine is None or theirs is None:
        return "Not enough listener counts to say who listens more underground."
    if max(mine, theirs) <= min(mine, theirs) * (1 + VERDICT_NOISE):
        return (
            "You are about the same: your medians are within "
            f"{round(VERDICT_NOISE * 100)}% of each other."
        )
    if mine < theirs:
        return "You listen more underground: your median artist has fewer listeners."
    return f"{friend_name} listens more underground: their median artist has fewer listeners."


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
    return url if from_image_origin(url, request_context.settings()) else None


def picture_srcset(url: str) -> str:
    """A ``srcset`` of the artist picture at ``url`` in each width served, so that a tile
    loads the 160 or 320 px picture instead of the 640 px one (Lighthouse counted 63 KiB of
    a phone's comparison page wasted so); empty when the address names no width."""
    widths = artist_picture_widths(url)
    return ", ".join(f"{widths[w]} {w}w" for w in sorted(widths))


def only_side_page(
    services: Services, me: User, friend: User, side: str, base: str, viewer: User | None = None
) -> str:
    """The "see all" page of the artists only one of the two has (``side``: "you" or
    "them"), at ``base``/only-<side>; it counts against the computation budget of
    ``viewer`` (by default ``me``), who asked for it."""
    page = request_context.whole_number(bottle.request.query.get("page") or "1", 5) or 0
    if page < 1:
        return request_context.page_error(400, "That page of the list does not exist.")
    owner, other = (me, friend) if side == "you" else (friend, me)
    try:
        # Computed from both libraries each time: it counts against the same budget.
        services.comparisons.spend((viewer or me).id)
    except ComparisonRefused as refused:
        return request_context.page_error(refused.status, str(refused), title="Cannot compare")
    listed = only_page(
        owner, other, current_month(), limit=COMPARISON_PAGE_SIZE,
        offset=(page - 1) * COMPARISON_PAGE_SIZE,
    )  # fmt: skip
    return request_context.render(
        "compare_only.html",
        friend=friend,
        side=side,
        base=base,
        total=listed.total,
        pending=listed.pending,
        artists=listed.artists,
        page=page,
        pages=max(1, -(-listed.total // COMPARISON_PAGE_SIZE)),
        first=(page - 1) * COMPARISON_PAGE_SIZE + 1,
    )


def share_card(view: dict[str, Any]) -> bytes:
    """The comparison of ``read_comparison`` as a share card's PNG (web/views/share_card.py)."""
    me, friend, result = view["me"], view["friend"], view["c"]
    shown = [a for a in result.shared if a.monthly_listeners is not None][:CARD_ARTISTS]
    return render_card(
        Card(
            me=CardPerson(me.name, me.image_url),
            friend=CardPerson(friend.name, friend.image_url),
            match=percent(result.match),
            meaning=f"{percent(result.match)} "
            + match_meaning(result, f"{me.name}'s", f"{friend.name}'s"),
            shared=f"{result.shared_count:,} shared artists",
            artists=[CardArtist(a.name or a.spotify_id, a.image_url) for a in shown],
        )
    )


def send_card_pictures(services: Services, me: User, friend: User) -> None:
    """Ask a worker to fetch the pictures the share card shows (sync/pictures.py); nothing
    when Redis is away: the card draws initials until a later open sends it."""
    if services.redis_ref is None:
        return
    message = queueing.build_message(
        queueing.CACHE_PICTURES, queueing.SHARED_QUEUE, [me.id, friend.id]
    )
    with contextlib.suppress(redis.RedisError, OSError):
        queueing.send(message)
