"""Spotify misbehaving, end to end: the demo Spotify's fault settings against ``update_user``
and ``update_artist`` on a real Dramatiq worker, the test database and Redis, and the pages
people read (the app from its factory, signed in with a cookie of its own session store).

Each fault is a burst (set on the demo Spotify, then cleared by the test) or never stops.
A burst only delays the work: the sync and the listener counts end exactly as Spotify's. A
fault that never stops fails the sync after a bounded number of tries, with its error on
the row and a sentence on the page saying when overlap tries again by itself. A 429 with a
Retry-After of hours defers the work, and the pages say until when. The figures each test
prints (``-s``) are in docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from actors.retry_policy import MAX_FAILURES_WITHOUT_PROGRESS, MAX_TRANSIENT_RETRIES
from actors.testing import enqueued, job_finished, wait_for
from config.redis_ref import RedisRef
from jobs import queueing
from jobs.queueing import send_job
from models import Artist, ArtistListeners, JobRun, User, UserArtist, current_month
from models.artist import ArtistFields
from models.db import utcnow
from models.job_run import user_subject
from ops.workers import live_workers
from sync.page_asks import ASKS_PER_PAGE
from sync.users import sync_if_needed
from tests.web.comparing import opened, words

SOURCES = ("followed", "saved_track", "saved_album")
# Each fault as the demo Spotify makes it, and the error the job row must name.
FAULTS = {
    "server-errors": ({"fault_rate": 1.0}, "ServerError"),
    "timeouts": ({"timeout_rate": 1.0, "timeout_seconds": 3.0}, "SpotifyTimeout"),
    "truncated-json": ({"truncate_rate": 1.0}, "BadResponse"),
}
NO_FAULTS = {"fault_rate": 0.0, "timeout_rate": 0.0, "truncate_rate": 0.0}
# Message options that shorten Dramatiq's backoff for the tests whose faults never stop
# (the actors keep their own 1 s to 60 s / 300 s, which the burst tests use).
QUICK_BACKOFF = {"min_backoff": 100, "max_backoff": 400}


# -- helpers --------------------------------------------------------------------------------


def send_sync(user: User, **options) -> JobRun:
    """Ask for ``user``'s sync as ``sync_if_needed`` does, with these message options."""
    message = queueing.build_message(queueing.UPDATE_USER, queueing.INTERACTIVE_QUEUE, [user.id])
    message = message.copy(options=options)
    job, _ = JobRun.open(
        message_id=message.message_id,
        actor=queueing.UPDATE_USER,
        args=[user.id],
        subject=user_subject(user.id),
        queue=queueing.INTERACTIVE_QUEUE,
    )
    assert send_job(job, message)
    return job


def friend_sharing(sign_in, catalog, spotify_ids: list[str]) -> User:
    """Dmitri, synced a moment ago, with a library of exactly these artists."""
    friend = sign_in("dmitri")
    fields = [
        ArtistFields(s, catalog.artist(s).name, f"https://open.spotify.com/artist/{s}", None, False)
        for s in spotify_ids
    ]
    UserArtist.link_many(friend.id, Artist.upsert_many(fields).values(), "followed")
    User.update(last_synced_at=utcnow()).where(User.id == friend.id).execute()
    return User.get_by_id(friend.id)


def artists_of(catalog, spotify_id: str) -> set[str]:
    """Every artist the app should find in the demo user's library."""
    return set().union(*(catalog.expected_artist_ids(spotify_id, s) for s in SOURCES))


def library_of(user: User, source: str) -> list[str]:
    """The Spotify ids of the user's artists from ``source``, one per link row, sorted."""
    query = (
        Artist.select(Artist.spotify_id)
        .join(UserArtist)
        .where((UserArtist.user == user.id) & (UserArtist.source == source))
    )
    return sorted(a.spotify_id for a in query)


def listener_rows() -> dict[str, int | None]:
    """This month's listener count of every artist that has a row, by Spotify id."""
    query = (
        ArtistListeners.select(Artist.spotify_id, ArtistListeners.monthly_listeners)
        .join(Artist)
        .where(ArtistListeners.month == current_month())
        .tuples()
    )
    return dict(query)


def spotify_requests(demo_spotify) -> dict[str, int]:
    """Requests the demo Spotify answered so far, by host."""
    counts = demo_spotify.stats()["requests"]
    return {host: counts[host] for host in ("api", "accounts", "open")}


def faults_answered(demo_spotify) -> int:
    """Faulty answers the demo Spotify gave so far (5xx, stalls and cut-off bodies)."""
    stats = demo_spotify.stats()
    return stats["server_errors"] + stats["timeouts"] + stats["truncated"]


def settled_answers(demo_spotify):
    """A ``wait_for`` predicate: what Spotify answered, once unchanged for a second."""
    last = [answers(demo_spotify)]

    def check():
        time.sleep(1)
        now = answers(demo_spotify)
        same, last[0] = now == last[0], now
        return now if same else None

    return check


def answers(demo_spotify) -> dict[str, int]:
    """Requests by host and 429s answered (the stats calls themselves are not counted)."""
    return {**spotify_requests(demo_spotify), "429s": demo_spotify.stats()["rate_limited"]}


def sync_section(page) -> str:
    """The ``#sync-status`` section of a page."""
    return re.search(r'<section id="sync-status".*?</section>', page.text, re.S).group(0)


def no_thread_died(worker) -> None:
    """Every worker thread is still alive: no fault crashed one."""
    assert all(thread.is_alive() for thread in worker.workers), "a worker thread died"


def figures(test: str, **values) -> None:
    """Print a test's figures for docs/reliability.md (seen with ``pytest -s``)."""
    print(f"\nFIGURES {test}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


# -- 5xx, timeouts, truncated JSON ------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_burst_of_faults_delays_the_sync_and_the_counts_then_both_end_as_spotifys(
    fault, sign_in, worker, demo_spotify, use_settings
):
    # The artist pages at 5/s: the listener counts take long enough for a second burst.
    ctx = use_settings(spotify_pages_rate=5)
    faults, error_name = FAULTS[fault]
    catalog = demo_spotify.catalog
    expected = artists_of(catalog, "cleo")
    user = sign_in("cleo")

    # Given Spotify failing every request when the sync starts (the actor's own backoff),
    demo_spotify.set_faults(**faults)
    started = time.monotonic()
    job = sync_if_needed(ctx, user)
    failing = wait_for(
        lambda: (j := JobRun.get_by_id(job.id)).status == "retrying" and j.attempts >= 2 and j,
        timeout=60,
        what="two failed tries",
    )
    assert failing.error.startswith(error_name), failing.error
    # when the burst ends, the sync goes on at its next try and ends as Spotify's library.
    demo_spotify.set_faults(**NO_FAULTS)
    done = wait_for(job_finished(job.id), timeout=120, what="the sync to end")
    sync_s = time.monotonic() - started
    assert done.status == "succeeded", done.error
    assert 3 <= done.attempts <= MAX_FAILURES_WITHOUT_PROGRESS
    for source in SOURCES:  # each source exactly, and no row twice
        assert library_of(user, source) == sorted(catalog.expected_artist_ids("cleo", source))

    # Given a second burst while the listener counts are being read,
    pending = len(expected - set(listener_rows()))
    assert pending > 20, "the counts were in before the burst: it would prove nothing"
    before = faults_answered(demo_spotify)
    demo_spotify.set_faults(**faults)
    time.sleep(3)
    demo_spotify.set_faults(**NO_FAULTS)
    tail_faults = faults_answered(demo_spotify) - before
    assert tail_faults > 0, "no update_artist met the burst"
    # every artist still ends with Spotify's own figure for the month (None: none shown).
    wait_for(lambda: set(listener_rows()) >= expected, timeout=180, what="every count")
    rows = listener_rows()
    assert {s: rows[s] for s in expected} == {s: catalog.monthly_listeners(s) for s in expected}
    no_thread_died(worker)
    figures(
        f"burst[{fault}]",
        sync_attempts=done.attempts,
        sync_s=round(sync_s, 1),
        counts_s=round(time.monotonic() - started, 1),
        faults_in_tail=tail_faults,
        requests=spotify_requests(demo_spotify),
    )


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_faults_that_never_stop_fail_the_sync_after_bounded_tries_and_the_page_says_so(
    fault, sign_in, worker, broker, web, demo_spotify, use_settings, sign_in_web
):
    use_settings()
    faults, error_name = FAULTS[fault]
    user = sign_in("cleo")
    sign_in_web(web, user)
    demo_spotify.set_faults(**faults)
    started = time.monotonic()

    job = send_sync(user, **QUICK_BACKOFF)
    done = wait_for(job_finished(job.id), timeout=120, what="the sync to fail")
    elapsed = time.monotonic() - started

    assert done.status == "failed"
    assert done.attempts == MAX_FAILURES_WITHOUT_PROGRESS  # five in a row without a page
    assert done.error.startswith(error_name), done.error
    assert done.traceback and error_name in done.traceback
    # Each try asks for its first page a few times (the client itself never retries).
    assert spotify_requests(demo_spotify)["api"] == done.attempts * ASKS_PER_PAGE
    # The person reads that Spotify is failing and when overlap tries again by itself; the
    # section polls slowly, for the run the schedule will start.
    section = sync_section(web.get("/"))
    again = done.resume_at.strftime("%H:%M UTC")
    # Its times are in UTC, the fallback that the page's script localises.
    assert "Spotify is failing" in section and f"try again by itself at {again}" in words(section)
    assert 'hx-trigger="every 10s"' in section
    me = web.get("/api/me").json
    assert me["sync"]["status"] == "failed" and error_name in me["sync"]["error"]

    # update_artist gives up after as many tries, and its messages are kept dead-lettered.
    # Each try reads the artist page (which would also give the name and picture) and
    # nothing of the Web API.
    artist_ids = sorted(demo_spotify.catalog.expected_artist_ids("cleo", "saved_track"))[:3]
    before = spotify_requests(demo_spotify)
    for spotify_id in artist_ids:
        message = queueing.build_message(
            queueing.UPDATE_ARTIST, queueing.ARTISTS_QUEUE, [spotify_id]
        ).copy(options=QUICK_BACKOFF)
        queueing.send(message)
    dead = f"{broker.namespace}:{queueing.ARTISTS_QUEUE}.XQ.msgs"
    wait_for(lambda: broker.client.hlen(dead) == 3, timeout=90, what="the dead letters")
    after = spotify_requests(demo_spotify)
    assert after["open"] - before["open"] == 3 * (MAX_TRANSIENT_RETRIES + 1)
    assert after["api"] == before["api"]
    assert not listener_rows()  # still without a count: the daily refresh asks again
    no_thread_died(worker)
    figures(
        f"never-stops[{fault}]",
        sync_attempts=done.attempts,
        to_failed_s=round(elapsed, 1),
        requests=spotify_requests(demo_spotify),
    )


# -- an artist page without the listener figure ----------------------------------------------


def test_artist_pages_without_the_figure_are_unknown_not_pending_and_the_polling_stops(
    sign_in, worker, web, demo_spotify, use_settings, sign_in_web
):
    use_settings(spotify_pages_rate=50, spotify_api_rate=50)
    catalog = demo_spotify.catalog
    expected = artists_of(catalog, "cleo")
    demo_spotify.set_faults(no_listeners_rate=1)
    user = sign_in("cleo")
    shared = sorted(expected)[:10]
    friend = friend_sharing(sign_in, catalog, shared)
    sign_in_web(web, user)
    started = time.monotonic()

    # The comparison asks for Cléo's first sync and polls until everything is in.
    url = opened(web, friend)
    first = web.get(url)
    assert 'data-complete="false"' in first.text and "hx-trigger" in first.text
    polls = []

    def poll():
        polls.append(web.get(url, headers={"HX-Request": "true"}))
        return polls[-1] if polls[-1].status_int == 286 else None

    final = wait_for(poll, timeout=120, what="the comparison to complete")
    elapsed = time.monotonic() - started

    # Every artist is tried once this month (the shared ones first counted), with no count.
    wait_for(lambda: set(listener_rows()) >= expected, timeout=60, what="every artist tried")
    rows = listener_rows()
    assert set(rows) == expected and set(rows.values()) == {None}
    assert spotify_requests(demo_spotify)["open"] == len(expected)
    # The finished fragment stops the polling and says "unknown", never "pending".
    assert 'data-complete="true"' in final.text and "hx-trigger" not in final.text
    # The ten shared artists are the grid's tiles (the table starts after its 12 places).
    grid = re.search(r'<ul class="grid".*?</ul>', final.text, re.S).group(0)
    assert grid.count("count unknown") == len(shared) and "pending" not in grid
    assert "pending" not in final.text
    compared = web.get(f"/api/compare/{friend.friend_code}").json
    assert compared["complete"] and compared["pending_shared"] == 0
    home = web.get("/")
    assert "pending" not in home.text and "unknown" in home.text
    no_thread_died(worker)
    figures(
        "no-listeners",
        polls=len(polls),
        to_complete_s=round(elapsed, 1),
        requests=spotify_requests(demo_spotify),
    )


# -- a 429 with a Retry-After of hours --------------------------------------------------------

HOURS = 4


def test_a_429_of_hours_defers_the_work_and_the_pages_say_when_it_goes_on(
    sign_in, worker, broker, web, demo_spotify, use_settings, sign_in_web
):
    ctx = use_settings()
    catalog = demo_spotify.catalog
    expected = artists_of(catalog, "cleo")
    # Three requests in a window of hours: the sync's three first pages; the fourth request
    # (its next page, or an artist's details) is answered 429 with a Retry-After of hours.
    demo_spotify.set_faults(rate_limit=3, rate_window_s=HOURS * 3600)
    user = sign_in("cleo")
    friend = friend_sharing(sign_in, catalog, sorted(expected)[:10])
    sign_in_web(web, user)
    started = time.monotonic()

    job = sync_if_needed(ctx, user)
    deferred = wait_for(
        lambda: (j := JobRun.get_by_id(job.id)).status == "retrying" and j,
        timeout=30,
        what="the sync to be deferred",
    )
    deferred_s = time.monotonic() - started
    assert "Spotify rate limit" in deferred.error, deferred.error
    hours_away = (deferred.resume_at - utcnow()).total_seconds() / 3600
    assert HOURS - 0.1 < hours_away <= HOURS
    # The message waits in Redis's delay queue; no worker thread holds it.
    [message] = enqueued(broker, queueing.INTERACTIVE_QUEUE, delayed=True)
    assert message.message_id == job.message_id
    assert message.options["eta"] / 1000 > time.time() + (HOURS - 0.1) * 3600
    # The artists already found are not held back: their count, name and picture come from
    # their pages, another host, read meanwhile; none waits for the Web API.
    settled = wait_for(settled_answers(demo_spotify), timeout=60, what="the requests to stop")
    assert enqueued(broker, queueing.ARTISTS_QUEUE, delayed=True) == []
    linked = Artist.select().join(UserArtist).where(UserArtist.user == user.id)
    found = {a.spotify_id for a in linked}
    assert found and found <= set(listener_rows())
    wait_for(
        lambda: all(w.busy_threads == 0 for w in live_workers(RedisRef.of(broker))),
        timeout=20,
        what="every worker thread to be free",
    )

    # Nothing calls Spotify meanwhile.
    time.sleep(5)
    assert answers(demo_spotify) == settled
    assert settled["429s"] <= 4  # one per thread at most: the gate pauses the rest
    assert JobRun.get_by_id(job.id).attempts == deferred.attempts

    # Every page the person reads says when the work goes on.
    when = deferred.resume_at.strftime("%H:%M UTC")
    assert f"goes on at {when}" in words(sync_section(web.get("/")))
    assert f"goes on at {when}" in words(web.get(opened(web, friend)).text)
    fragment = web.get(opened(web, friend), headers={"HX-Request": "true"})
    assert fragment.status_int == 200 and f"goes on at {when}" in words(fragment.text)
    me = web.get("/api/me").json
    assert me["sync"]["status"] == "retrying"
    assert dt.datetime.fromisoformat(me["sync"]["resume_at"]) == deferred.resume_at
    assert JobRun.select().count() == 1  # the pages asked for no second sync
    no_thread_died(worker)
    figures(
        "429-hours",
        deferred_after_s=round(deferred_s, 1),
        resume_in_h=round(hours_away, 2),
        answered_429=settled["429s"],
        counted_meanwhile=len(found),
        requests=spotify_requests(demo_spotify),
    )


def test_a_429_of_hours_on_the_artist_pages_defers_the_counts_and_the_pages_say_when(
    sign_in, worker, broker, web, demo_spotify, use_settings, sign_in_web
):
    ctx = use_settings(spotify_pages_rate=50, spotify_api_rate=50)
    catalog = demo_spotify.catalog
    expected = artists_of(catalog, "cleo")
    # Five artist pages in a window of hours: the sixth is answered 429 with hours to wait.
    demo_spotify.set_faults(pages_rate_limit=5, rate_window_s=HOURS * 3600)
    user = sign_in("cleo")
    friend = friend_sharing(sign_in, catalog, sorted(expected)[:10])
    sign_in_web(web, user)

    job = sync_if_needed(ctx, user)
    done = wait_for(job_finished(job.id), timeout=60, what="the sync to end")
    assert done.status == "succeeded"  # the library is the API's: it does not wait
    settled = wait_for(settled_answers(demo_spotify), timeout=60, what="the requests to stop")
    pause_ends = wait_for(lambda: ctx.gate.paused_until("open"), timeout=10, what="the pause")
    hours_away = (pause_ends - time.time()) / 3600
    assert HOURS - 0.1 < hours_away <= HOURS

    # Every artist without a count comes to wait in the delay queue (on a loaded machine
    # the worker may still be taking the last ones from the queue, each deferred at the
    # gate's pause); nothing calls Spotify.
    missing = expected - set(listener_rows())
    assert missing

    def every_missing_deferred() -> list | None:
        deferred = enqueued(broker, queueing.ARTISTS_QUEUE, delayed=True)
        return deferred if {m.args[0] for m in deferred} == missing else None

    deferred = wait_for(
        every_missing_deferred,
        timeout=60,
        what="every artist without a count deferred to the pause's end",
        seen=lambda: sorted(m.args[0] for m in enqueued(broker, queueing.ARTISTS_QUEUE)),
    )
    assert all(m.options["eta"] / 1000 > pause_ends - 60 for m in deferred), "not to the end"
    time.sleep(5)
    assert answers(demo_spotify) == settled
    # The five the window allowed, then only what had already passed the gate when the first
    # 429 came back (each answered 429 too): a busy machine can have more than one in flight.
    assert settled["open"] == 5 + settled["429s"] and 1 <= settled["429s"] <= 4

    # The pages that show "pending" say when the counts go on.
    when = dt.datetime.fromtimestamp(pause_ends, dt.UTC).strftime("%H:%M UTC")
    sentence = f"listener counts go on at {when}"
    assert "pending" in web.get("/").text and sentence in words(web.get("/").text)
    fragment = web.get(opened(web, friend), headers={"HX-Request": "true"})
    assert "pending" in fragment.text and sentence in words(fragment.text)
    compared = web.get(f"/api/compare/{friend.friend_code}").json
    assert compared["pending_shared"] and compared["counts_resume_at"]
    no_thread_died(worker)
    figures(
        "429-hours-pages",
        resume_in_h=round(hours_away, 2),
        answered_429=settled["429s"],
        deferred_artists=len(deferred),
        requests=spotify_requests(demo_spotify),
    )
