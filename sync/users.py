"""Loading one person's library: ``sync_user``, and ``sync_if_needed`` to ask for it.

A sync first learns the three totals (one request per source, whose page it keeps), then
pages through each source. After every page it upserts the artists and the person's
links, asks for the artists that are not up to date, and saves a checkpoint on the job
row, so that a redelivered job goes on where the last one stopped. Followed artists are
cursor-paged and read in order, a few pages stored at once while the next is asked for;
saved tracks and albums are offset-paged and read by a few threads at once. At the end,
links not seen by this sync are removed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from jobs import queueing
from jobs.progress import Progress, for_job
from jobs.queueing import send_job
from models import Artist, JobRun, User, UserArtist, current_month, database, held_counts
from models.artist import ArtistFields
from models.db import is_postgres, utcnow
from models.job_run import user_subject
from spotify.client import (
    PAGE_LIMIT,
    ArtistRef,
    SpotifyClient,
    artist_ref,
    artists_of_saved_album,
    artists_of_saved_track,
    saved_at,
)
from spotify.errors import NeedsReauth
from spotify.paging import CursorPage
from sync.context import SyncContext
from sync.page_asks import ask

logger = logging.getLogger(__name__)

FOLLOWED, SAVED_TRACK, SAVED_ALBUM = "followed", "saved_track", "saved_album"
OFFSET_SOURCES = (SAVED_TRACK, SAVED_ALBUM)

ShouldStop = Callable[[], bool]
# Where a sync stands, as the job row keeps it (JSON): see _new_checkpoint.
Checkpoint = dict[str, Any]
# A change to the checkpoint, made under the lock once a page is stored; it returns how
# many pages it marks loaded (a followed page stored ahead of one before it: none yet).
Mark = Callable[[Checkpoint], int]
# Followed pages stored at once while the cursor is read on: across machines a store's
# round trips take longer than a page's request, so one store at a time holds it back.
FOLLOWED_STORES = 3


class SyncInterrupted(Exception):
    """The sync stopped between two pages because it was asked to (shutdown, cancel)."""


@dataclass
class SyncResult:
    """What a finished sync did."""

    artists_by_source: dict[str, int]
    links_removed: int
    pages_loaded: int
    artists_sent: int
    api_requests: int


def is_stale(user: User, stale_after_days: int, now: dt.datetime | None = None) -> bool:
    """Whether the user was never fully synced, or not within ``stale_after_days``."""
    if user.last_synced_at is None:
        return True
    return (now or utcnow()) - user.last_synced_at > dt.timedelta(days=stale_after_days)


def sync_if_needed(
    ctx: SyncContext, user: User, force: bool = False, requested_by: str = "user"
) -> JobRun | None:
    """Ask for an ``update_user`` when the user is stale (or ``force``), unless one is
    queued or running; returns that job, new or existing, or None when none is needed.

    The row is written before the message is sent, so a request made while Redis is down
    is not lost: the row waits with no ``sent_at`` and the reaper sends it later.
    """
    subject = user_subject(user.id)
    existing = JobRun.active_for(queueing.UPDATE_USER, subject)
    if existing is not None:
        return existing
    if user.needs_reauth:
        # Spotify refused their refresh token: no call is worth making until they sign in
        # again (which clears the flag); the pages say so.
        return None
    if not force and not is_stale(user, ctx.settings.stale_after_days):
        return None
    message = queueing.build_message(queueing.UPDATE_USER, queueing.INTERACTIVE_QUEUE, [user.id])
    job, created = JobRun.open(
        message_id=message.message_id,
        actor=queueing.UPDATE_USER,
        args=[user.id],
        subject=subject,
        queue=queueing.INTERACTIVE_QUEUE,
        requested_by=requested_by,
    )
    if created:
        send_job(job, message)
    return job


def _new_checkpoint() -> Checkpoint:
    return {
        "started_at": utcnow().isoformat(),
        "totals": None,
        FOLLOWED: {"after": None, "done": False},
        SAVED_TRACK: {"done_offsets": []},
        SAVED_ALBUM: {"done_offsets": []},
        "pages_loaded": 0,
    }


def _pages_for(total: int) -> int:
    return max(1, math.ceil(total / PAGE_LIMIT))


class _Run:
    """The state of one sync while it runs; the lock guards the checkpoint between threads."""

    def __init__(
        self, ctx: SyncContext, user: User, job: JobRun | None, should_stop: ShouldStop,
        progress: Progress,
    ) -> None:  # fmt: skip
        self.ctx, self.user, self.job = ctx, user, job
        self.should_stop, self.progress = should_stop, progress
        self.checkpoint: Checkpoint = (
            job.checkpoint if job and job.checkpoint else None
        ) or _new_checkpoint()
        self.lock = threading.Lock()
        self.month = current_month()
        self.sent: set[str] = set()
        self.sent_count = 0
        # Web API requests of earlier attempts of this job, and the client of this one.
        self.requests_before = (job.api_requests or 0) if job is not None else 0
        self.client: SpotifyClient | None = None

    def stopping(self) -> bool:
        """Whether to stop between two pages: shutdown, or someone cancelled the job."""
        return self.should_stop() or self.progress.cancelled()

    def begin(self) -> None:
        """Tell the progress how many pages there are (called when the totals are known)."""
        self.progress.start(self._pages_total(), "loading your library")

    def store(
        self, source: str, refs: list[ArtistRef], complete: bool, mark: Mark,
        dates: dict[str, dt.datetime] | None = None,
    ) -> None:  # fmt: skip
        """Save one page: artists, links (with the date each was saved, from ``dates`` by
        Spotify id), artist updates, then the checkpoint."""
        fields = [ArtistFields(r.spotify_id, r.name, r.url, r.image_url, complete) for r in refs]
        ids, up_to_date = Artist.upsert_checked(fields, self.month)
        added = {ids[sid]: when for sid, when in (dates or {}).items() if sid in ids}
        started = dt.datetime.fromisoformat(self.checkpoint["started_at"])
        UserArtist.link_many(self.user.id, ids.values(), source, added, started)
        self._ask_for_outdated([sid for sid in ids if sid not in up_to_date])
        with self.lock:
            marked = mark(self.checkpoint)
            self.checkpoint["pages_loaded"] += marked
            self._stage()
            loaded, total = self.checkpoint["pages_loaded"], self._pages_total()
            self.progress.advance(marked, f"{loaded} of {total or '?'} pages loaded")
        if self.stopping():
            raise SyncInterrupted("asked to stop; the checkpoint is saved")

    def flush(self) -> None:
        """Write the checkpoint now (stopping, failing or done)."""
        with self.lock:
            self.progress.flush()

    def _ask_for_outdated(self, outdated: list[str]) -> None:
        # With the page's stamp touch: the comparisons see the page (it is committed).
        with self.lock:
            outdated = [s for s in outdated if s not in self.sent]
            self.sent.update(outdated)
        self.sent_count += self.ctx.page_stored([self.user.id], outdated)

    def _pages_total(self) -> int | None:
        totals = self.checkpoint["totals"]
        return sum(_pages_for(n) for n in totals.values()) if totals else None

    def api_requests(self) -> int:
        """The Web API requests this job has made, all its attempts together."""
        return self.requests_before + (self.client.requests_sent if self.client else 0)

    def _stage(self) -> None:
        cp = self.checkpoint
        self.progress.save(
            cp,
            totals=cp["totals"] or None,
            pages_loaded=cp["pages_loaded"],
            pages_total=self._pages_total(),
            api_requests=self.api_requests(),
        )


def sync_user(
    ctx: SyncContext,
    user: User,
    job: JobRun | None = None,
    client: SpotifyClient | None = None,
    should_stop: ShouldStop = lambda: False,
    progress: Progress | None = None,
) -> SyncResult:
    """Load the user's followed artists and the artists of their saved tracks and albums.

    Goes on from ``job``'s checkpoint when it has one, and keeps the checkpoint and the
    progress on it through ``progress`` (by default the job's own). Raises the Spotify
    errors it meets (the caller decides about retries), and ``SyncInterrupted`` when
    ``should_stop`` says so or the job was cancelled, with the checkpoint saved.
    """
    if user.needs_reauth:
        raise NeedsReauth("Spotify refused the person's refresh token; they must sign in again")
    run = _Run(ctx, user, job, should_stop, progress or for_job(job))
    own_client = client is None
    client = run.client = client or ctx.client_for(user)
    try:
        if run.checkpoint["totals"] is None:
            _learn_totals(run, client)
        else:
            run.begin()
        _load_pages(run, client)
    except NeedsReauth:
        # Spotify refused the person's refresh token (the client already renewed a refused
        # access token once): the pages ask them to sign in again, and nobody calls Spotify
        # for them until they do.
        user.mark_needs_reauth()
        raise
    finally:
        with run.lock:
            run._stage()  # the last request count, whatever happened
        run.flush()
        if own_client:
            client.close()
    removed = _complete(run)
    return SyncResult(
        artists_by_source=user.artist_counts(),
        links_removed=removed,
        pages_loaded=run.checkpoint["pages_loaded"],
        artists_sent=run.sent_count,
        api_requests=run.api_requests(),
    )


def _complete(run: _Run) -> int:
    """End a sync that loaded every page: remove the links it did not see, and record the
    user as synced; how many links went."""
    user = run.user
    started = dt.datetime.fromisoformat(run.checkpoint["started_at"])
    unseen = UserArtist.delete().where(
        (UserArtist.user == user.id) & (UserArtist.seen_at < started)
    )
    stamp = User.update(last_synced_at=utcnow()).where(User.id == user.id)
    if is_postgres():  # in two round trips (ten as the statements below)
        removed: int = held_counts.complete_at_once(user.id, unseen.sql(), stamp.sql())
    else:
        with database.atomic():
            # The person's row first, as every write of their links takes it.
            held_counts.lock_totals(user.id)
            removed = unseen.execute()
            held_counts.release_unheld(user.id)
            stamp.execute()
    run.ctx.library_changed([user.id])
    return removed


def _followed_read(after: str | None, done: bool) -> Mark:
    """The checkpoint change of a page of followed artists: the cursor's next place."""

    def mark(cp: Checkpoint) -> int:
        cp[FOLLOWED].update(after=after, done=done)
        return 1

    return mark


def _offset_read(source: str, offset: int) -> Mark:
    """The checkpoint change of a page of saved tracks or albums: its offset is done."""

    def mark(cp: Checkpoint) -> int:
        cp[source]["done_offsets"].append(offset)
        return 1

    return mark


def _learn_totals(run: _Run, client: SpotifyClient) -> None:
    """One request per source: its first page gives the total, and is kept. The three are
    asked for one after the other, so that a Spotify failing the first is asked nothing
    more this try (every request counts against the day's budget); then stored at once,
    each on a connection of its own: between hosts, one after the other they cost their
    round trips three times over before any other page could be asked for."""
    followed = ask(partial(client.followed_artists_page, None))
    tracks = ask(partial(client.saved_tracks_page, 0))
    albums = ask(partial(client.saved_albums_page, 0))
    with run.lock:
        run.checkpoint["totals"] = {
            FOLLOWED: followed.total,
            SAVED_TRACK: tracks.total,
            SAVED_ALBUM: albums.total,
        }
    run.begin()
    after = followed.next_after
    stores = [
        partial(run.store, FOLLOWED, [artist_ref(a) for a in followed.items], True,
                _followed_read(after, after is None)),
    ]  # fmt: skip
    for source, page in ((SAVED_TRACK, tracks), (SAVED_ALBUM, albums)):
        refs, dates = _saved_refs(source, page.items)
        stores.append(partial(run.store, source, refs, False, _offset_read(source, 0), dates))
    with ThreadPoolExecutor(len(stores), thread_name_prefix="sync-first") as storing:
        for stored in [storing.submit(_on_own_connection, store) for store in stores]:
            stored.result()


def _on_own_connection(work: Callable[[], None]) -> None:
    """``work()`` on a database connection of this thread's own."""
    with database.connection_context():
        work()


def _saved_refs(
    source: str, items: list[dict[str, Any]]
) -> tuple[list[ArtistRef], dict[str, dt.datetime]]:
    """The artists of a page of saved tracks or albums, and each one's earliest save on
    the page (from the ``added_at`` in the same answer: no extra request)."""
    extract = artists_of_saved_track if source == SAVED_TRACK else artists_of_saved_album
    refs: list[ArtistRef] = []
    dates: dict[str, dt.datetime] = {}
    for item in items:
        when = saved_at(item)
        for ref in extract(item):
            refs.append(ref)
            if when is not None and (ref.spotify_id not in dates or when < dates[ref.spotify_id]):
                dates[ref.spotify_id] = when
    return refs, dates


def _load_followed(run: _Run, client: SpotifyClient) -> None:
    """Followed artists, page after page along the cursor (it cannot be read out of
    order). A few threads of their own store the pages, each on one database connection
    for the whole list, while the next ones are asked for: the cursor goes at the pace of
    Spotify's answers, not of the stores' round trips to the database and Redis. The
    checkpoint's cursor moves in order, past a page only once it and every page before it
    are stored (``_InOrder``): a sync taken up after a crash skips none, and reads again
    at most the few stored ahead of a gap."""
    after, done = run.checkpoint[FOLLOWED]["after"], run.checkpoint[FOLLOWED]["done"]
    in_order = _InOrder()
    left = _followed_pages_left(run)
    pages: queue.Queue[tuple[CursorPage, Mark] | None] = queue.Queue(maxsize=FOLLOWED_STORES)
    with (
        ThreadPoolExecutor(FOLLOWED_STORES, thread_name_prefix="sync-followed") as storing,
        # Each page's slot at the gate is taken while the page before is in flight.
        client.slots_ahead(lambda: in_order.read + 1 < left),
    ):
        stores = [storing.submit(_store_followed, run, pages) for _ in range(FOLLOWED_STORES)]
        try:
            while not done:
                page = ask(partial(client.followed_artists_page, after))
                # A cursor that does not move would loop for ever; treat it as the end.
                done = page.next_after is None or page.next_after == after or not page.items
                _hand_over(pages, (page, in_order.mark(page, done)), stores)
                after = page.next_after
        finally:
            for _ in stores:  # each store thread ends once the pages before are stored
                _hand_over(pages, None, stores)
    for store in stores:
        store.result()


def _followed_pages_left(run: _Run) -> int:
    """The followed pages this pass will read, by the total Spotify gave: the pages of the
    total less those loaded (every loaded page not of a saved source's offsets)."""
    with run.lock:
        cp = run.checkpoint
        saved = sum(len(cp[source]["done_offsets"]) for source in OFFSET_SOURCES)
        return _pages_for(cp["totals"][FOLLOWED]) - int(cp["pages_loaded"] - saved)


def _store_followed(run: _Run, pages: queue.Queue[tuple[CursorPage, Mark] | None]) -> None:
    """Store the pages handed over until told to end (an error ends the thread: the
    reader hears of it at its next hand-over)."""
    with database.connection_context():
        while (item := pages.get()) is not None:
            page, mark = item
            run.store(FOLLOWED, [artist_ref(a) for a in page.items], True, mark)


def _hand_over(
    pages: queue.Queue[tuple[CursorPage, Mark] | None],
    item: tuple[CursorPage, Mark] | None,
    stores: list[Future[None]],
) -> None:
    """Queue ``item`` for the store threads, waiting for room; raise the error of a
    store thread that ended (only an error ends one before it is told to), and give up
    on ``None`` once every thread has ended."""
    while True:
        for store in stores:
            if store.done() and item is not None:
                store.result()
        try:
            pages.put(item, timeout=0.1)
            return
        except queue.Full:
            if all(store.done() for store in stores):
                return


class _InOrder:
    """The checkpoint marks of followed pages stored out of order, applied in the order
    the cursor read them. ``mark`` is called by the reading thread, each mark it returns
    under the run's lock."""

    def __init__(self) -> None:
        self.read = 0  # pages read along the cursor
        self.applied = 0  # pages marked loaded: every page before them is stored
        self.stored: dict[int, Mark] = {}  # the marks of pages stored ahead of a gap

    def mark(self, page: CursorPage, done: bool) -> Mark:
        """The mark of the next page read along the cursor."""
        place, move = self.read, _followed_read(page.next_after, done)
        self.read += 1

        def stored(cp: Checkpoint) -> int:
            self.stored[place] = move
            loaded = 0
            while self.applied in self.stored:
                loaded += self.stored.pop(self.applied)(cp)
                self.applied += 1
            return loaded

        return stored


def _load_pages(run: _Run, client: SpotifyClient) -> None:
    """Every page not yet loaded: saved tracks and albums a few at a time in background
    threads, while the followed artists are read along their cursor in this one."""
    todo: list[tuple[str, int]] = []
    for source in OFFSET_SOURCES:
        done = set(run.checkpoint[source]["done_offsets"])
        total = run.checkpoint["totals"][source]
        todo += [(source, o) for o in range(0, total, PAGE_LIMIT) if o not in done]

    def load(source: str, offset: int) -> None:
        if run.stopping():
            raise SyncInterrupted("asked to stop; the checkpoint is saved")
        with database.connection_context():
            read = client.saved_tracks_page if source == SAVED_TRACK else client.saved_albums_page
            page = ask(partial(read, offset))
            refs, dates = _saved_refs(source, page.items)
            run.store(source, refs, False, _offset_read(source, offset), dates)

    pool = ThreadPoolExecutor(max_workers=run.ctx.page_threads, thread_name_prefix="sync-page")
    try:
        futures = [pool.submit(load, source, offset) for source, offset in todo]
        _load_followed(run, client)
        for future in futures:
            future.result()
    finally:
        # On an error, pages not yet started are dropped: the checkpoint knows they remain.
        pool.shutdown(wait=True, cancel_futures=True)
