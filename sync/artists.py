"""Keeping artists up to date: ``sync_artist`` for one, ``find_outdated_artists`` and
``refresh_outdated_artists`` for the monthly refresh.

Up to date means every field present and this month's listener row stored. Checking that
costs one indexed query and no call to Spotify, so many messages for one artist are cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from models import Artist, ArtistListeners, current_month, database
from models.artist import ArtistFields
from models.db import utcnow
from spotify.client import artist_ref
from spotify.errors import NotFound
from sync import queueing
from sync.context import SyncContext

UP_TO_DATE, UPDATED, GONE = "up_to_date", "updated", "gone"


def sync_artist(ctx: SyncContext, spotify_id: str, month: str | None = None) -> str:
    """Bring one artist up to date; returns ``up_to_date``, ``updated`` or ``gone``.

    Reads the artist page for the monthly listeners, and ``GET /artists/{id}`` only when a
    field is missing. An artist Spotify no longer knows (404) is marked, never retried.
    """
    month = month or current_month()
    if Artist.is_up_to_date(spotify_id, month):
        return UP_TO_DATE
    artist = Artist.get_or_none(Artist.spotify_id == spotify_id)
    try:
        if artist is None or not artist.details_complete:
            ref = artist_ref(ctx.app_client().artist(spotify_id))
            ids = Artist.upsert_many(
                [ArtistFields(ref.spotify_id, ref.name, ref.url, ref.image_url, True)]
            )
            artist_id = ids[spotify_id]
        else:
            artist_id = artist.id
        listeners = ctx.pages().monthly_listeners(spotify_id)
    except NotFound:
        ctx.library_changed(artist_id=_mark_gone(spotify_id, month))
        return GONE
    ArtistListeners.record(artist_id, listeners, month)
    ctx.library_changed(artist_id=artist_id)
    return UPDATED


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


def find_outdated_artists(month: str | None = None, chunk: int = 1000) -> Iterator[list[str]]:
    """The Spotify ids of artists not up to date for ``month``, in keyset chunks."""
    for page in Artist.iter_outdated(month or current_month(), chunk=chunk):
        yield [spotify_id for _, spotify_id in page]


@dataclass
class RefreshResult:
    """What a refresh found and sent."""

    outdated: int
    sent: int


def refresh_outdated_artists(
    month: str | None = None, chunk: int = 1000, dry_run: bool = False
) -> RefreshResult:
    """Send ``update_artist`` on the bulk queue for every outdated artist, chunk by chunk."""
    found = sent = 0
    for spotify_ids in find_outdated_artists(month, chunk):
        found += len(spotify_ids)
        if not dry_run:
            sent += queueing.send_many(
                queueing.UPDATE_ARTIST, queueing.BULK_QUEUE, ([s] for s in spotify_ids)
            )
    return RefreshResult(outdated=found, sent=sent)
