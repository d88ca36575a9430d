"""Keeping artists up to date: ``sync_artist`` for one, ``refresh_outdated_artists``
for the monthly refresh.

Up to date means every field present and this month's listener row stored. Checking that
costs one indexed query and no call to Spotify, so many messages for one artist are cheap.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from urllib.parse import quote

from peewee import fn

from jobs import queueing
from jobs.progress import NoProgress, Progress
from models import Artist, ArtistListeners, current_month, database
from models.artist import ArtistFields
from models.db import utcnow
from spotify.client import artist_ref
from spotify.errors import NotFound
from spotify.listeners import ArtistPage
from sync.context import SyncContext

UP_TO_DATE, UPDATED, GONE = "up_to_date", "updated", "gone"


def sync_artist(ctx: SyncContext, spotify_id: str, month: str | None = None) -> str:
    """Bring one artist up to date; returns ``up_to_date``, ``updated`` or ``gone``.

    Reads the artist page: the monthly listeners, and the name and picture when a field is
    missing. ``GET /artists/{id}`` is asked only when the page has no artist head (its shape
    changed), so a sync spends its Web API budget on library pages alone. An artist Spotify
    no longer knows (404) is marked, never retried.
    """
    month = month or current_month()
    if Artist.is_up_to_date(spotify_id, month):
        return UP_TO_DATE
    # Another message for this artist may be reading its page right now (a sync's and an
    # open comparison's): wait for it and use what it stored rather than read it twice.
    # Check again even when the claim was free at once: the other reader may have stored
    # the count and let go between the check above and the claim.
    with ctx.reads.claim(spotify_id) if ctx.reads else nullcontext(False):
        if Artist.is_up_to_date(spotify_id, month):
            return UP_TO_DATE
        artist = Artist.get_or_none(Artist.spotify_id == spotify_id)
        try:
            page = ctx.pages().artist_page(spotify_id)
            if artist is not None and artist.details_complete:
                artist_id = artist.id
            else:
                artist_id = _store_details(ctx, spotify_id, page, artist)
        except NotFound:
            ctx.library_changed(artist_id=_mark_gone(spotify_id, month))
            return GONE
        ArtistListeners.record(artist_id, page.listeners, month)
    ctx.library_changed(artist_id=artist_id)
    return UPDATED


def _store_details(
    ctx: SyncContext, spotify_id: str, page: ArtistPage, known: Artist | None
) -> int:
    """Complete the artist's row from its page, or from the Web API when the page has no
    artist head; returns the row's id."""
    if page.name is not None:  # the page has its artist head (ArtistPage.has_head)
        url = known.url if known is not None and known.url else page_url(ctx, spotify_id)
        fields = ArtistFields(spotify_id, page.name, url, page.image_url, True)
    else:
        ref = artist_ref(ctx.app_client().artist(spotify_id))
        fields = ArtistFields(ref.spotify_id, ref.name, ref.url, ref.image_url, True)
    return Artist.upsert_many([fields])[spotify_id]


def page_url(ctx: SyncContext, spotify_id: str) -> str:
    """The artist's page (what the Web API's ``external_urls`` would give)."""
    return f"{ctx.settings.spotify_open_url}/artist/{quote(spotify_id, safe='')}"


def _mark_gone(spotify_id: str, month: str) -> int:
    """Remember that Spotify no longer knows the artist, so nobody asks again; its id."""
    with database.atomic():
        artist = Artist.get_or_none(Artist.spotify_id == spotify_id)
        if artist is None:
            artist = Artist.create(spotify_id=spotify_id, gone_at=utcnow())
        else:
            Artist.update(gone_at=utcnow()).where(Artist.id == artist.id).execute()
        ArtistListeners.record(artist.id, None, month)
    return artist.id


@dataclass
class RefreshResult:
    """What a refresh found and sent."""

    outdated: int
    sent: int


def refresh_outdated_artists(
    month: str | None = None,
    chunk: int = 1000,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RefreshResult:
    """Send ``update_artist`` on the bulk queue for every outdated artist, chunk by chunk.

    Progress runs over artist ids (the keyset's position against the highest id), so it
    costs no count; a cancelled refresh stops between chunks.
    """
    progress = progress or NoProgress()
    highest: int = Artist.select(fn.MAX(Artist.id)).scalar() or 0
    progress.start(highest, "looking for artists without this month's count")
    found = sent = position = 0
    for page in Artist.iter_outdated(month or current_month(), chunk=chunk):
        spotify_ids = [spotify_id for _, spotify_id in page]
        found += len(spotify_ids)
        if not dry_run:
            sent += queueing.send_many(
                queueing.UPDATE_ARTIST, queueing.BULK_QUEUE, ([s] for s in spotify_ids)
            )
        progress.advance(page[-1][0] - position, f"{found:,} outdated artists found")
        position = page[-1][0]
        if progress.cancelled():
            break
    progress.advance(highest - position)
    progress.flush()
    return RefreshResult(outdated=found, sent=sent)
