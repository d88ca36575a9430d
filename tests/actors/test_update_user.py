"""update_user through a real broker and worker: the job row follows the run to its end."""

from __future__ import annotations

import time

from actors import runtime
from actors.testing import job_finished, wait_for
from models import Artist, ArtistListeners, JobRun, User, UserArtist
from models.artist import ArtistFields
from sync.users import sync_if_needed

SOURCES = ("followed", "saved_track", "saved_album")


def spotify_requests(demo_spotify) -> dict[str, int]:
    counts = demo_spotify.stats()["requests"]
    return {host: counts[host] for host in ("api", "accounts", "open")}


def test_a_queued_sync_runs_to_success_and_fills_in_listener_counts(sign_in, worker, demo_spotify):
    user = sign_in("cleo")

    job = sync_if_needed(runtime.context(), user)
    done = wait_for(job_finished(job.id), what="the sync to finish")

    assert done.status == "succeeded"
    assert done.attempts == 1
    assert done.started_at and done.finished_at and done.pages_loaded == done.pages_total
    catalog = demo_spotify.catalog
    expected = set().union(*(catalog.expected_artist_ids("cleo", s) for s in SOURCES))
    linked = {
        a.spotify_id for a in Artist.select().join(UserArtist).where(UserArtist.user == user.id)
    }
    assert linked == expected
    # Every artist met gets its update_artist: all end up with this month's row.
    wait_for(
        lambda: ArtistListeners.select().count() == len(expected),
        what="every listener count",
    )
    for row in ArtistListeners.select(ArtistListeners, Artist).join(Artist):
        assert row.monthly_listeners == catalog.monthly_listeners(row.artist.spotify_id)
        assert row.artist.details_complete


def test_a_first_sync_costs_one_web_api_request_per_library_page_and_none_per_artist(
    sign_in, worker, demo_spotify
):
    # Given Dmitri, whose saved tracks and albums credit artists the database has never seen
    # (so their rows lack a picture, which only the artist page or the Web API can give).
    user = sign_in("dmitri")

    job = sync_if_needed(runtime.context(), user)
    done = wait_for(job_finished(job.id), what="the sync to finish")
    linked = len({link.artist_id for link in UserArtist.select().where(UserArtist.user == user.id)})
    wait_for(lambda: ArtistListeners.select().count() == linked, what="every listener count")

    stats = demo_spotify.stats()
    assert stats["requests"]["api"] == done.pages_total  # the library's pages, nothing more
    assert done.api_requests == done.pages_total  # and the job says what it spent
    assert not [
        route for route in stats["routes"] if "artists/<" in route or "/v1/artists" in route
    ]
    assert stats["requests"]["open"] == linked  # one artist page each
    pictured = {a.id for a in demo_spotify.catalog.artists if a.has_image}
    for artist in Artist.select():
        assert artist.details_complete
        assert (artist.image_url is not None) == (artist.spotify_id in pictured)


def test_a_user_whose_refresh_token_was_revoked_is_asked_to_sign_in_again(
    sign_in, worker, demo_spotify
):
    user = sign_in("dmitri")
    token = user.load_token()
    token["expires_at"] = 0  # forces a refresh, which Spotify now refuses
    user.save_token(token)
    demo_spotify.revoke("dmitri")

    job = sync_if_needed(runtime.context(), User.get_by_id(user.id))
    done = wait_for(job_finished(job.id), what="the sync to fail")

    assert done.status == "failed"
    assert "NeedsReauth" in done.error
    assert done.attempts == 1  # no retry can fix it
    assert User.get_by_id(user.id).needs_reauth


def test_up_to_date_artists_cost_no_spotify_call(worker, broker, demo_spotify):
    from jobs import queueing

    [artist_id] = list(demo_spotify.catalog.expected_artist_ids("dmitri", "followed"))[:1]
    ids = Artist.upsert_many([ArtistFields(artist_id, "Known", "u", "img", True)])
    ArtistListeners.record(ids[artist_id], 123)
    before = spotify_requests(demo_spotify)

    queueing.send_many("update_artist", queueing.ARTISTS_QUEUE, [[artist_id]] * 50)
    broker.join(queueing.ARTISTS_QUEUE, timeout=30_000)
    worker.join()

    assert spotify_requests(demo_spotify) == before
    assert ArtistListeners.get(ArtistListeners.artist == ids[artist_id]).monthly_listeners == 123


def test_an_artist_spotify_no_longer_knows_is_marked_not_retried(worker, broker, demo_spotify):
    from jobs import queueing

    unknown = "0000000000000000000000"
    queueing.send_many("update_artist", queueing.ARTISTS_QUEUE, [[unknown]])
    wait_for(lambda: Artist.get_or_none(Artist.spotify_id == unknown), what="the artist row")
    broker.join(queueing.ARTISTS_QUEUE, timeout=30_000)
    worker.join()

    artist = Artist.get(Artist.spotify_id == unknown)
    assert artist.gone_at is not None
    assert demo_spotify.stats()["routes"].get(f"GET /v1/artists/{unknown}", 0) <= 1


def test_a_spent_daily_quota_defers_the_job_without_holding_a_thread(
    sign_in, worker, broker, demo_spotify
):
    from actors.testing import enqueued

    demo_spotify.set_faults(daily_quota=2)  # the totals' first requests spend it
    user = sign_in("cleo")
    started = time.monotonic()

    job = sync_if_needed(runtime.context(), user)
    deferred = wait_for(
        lambda: (j := JobRun.get_by_id(job.id)).status == "retrying" and j,
        timeout=20,
        what="the job to be deferred",
    )

    assert time.monotonic() - started < 10  # handed back at once, not slept through
    assert "rate limit" in deferred.error
    hours_away = (deferred.resume_at - deferred.heartbeat_at).total_seconds() / 3600
    assert hours_away > 0.01  # Retry-After runs to UTC midnight
    # The message waits in Redis's delay queue, not in a sleeping worker thread.
    waiting = enqueued(broker, "interactive", delayed=True)
    assert [m.message_id for m in waiting] == [job.message_id]


def test_a_claimed_job_skipped_for_its_age_ends_instead_of_staying_running(
    sign_in, worker, broker, demo_spotify
):
    import threading

    from jobs import queueing
    from jobs.queueing import send_job
    from models.job_run import user_subject

    user = sign_in("cleo")
    message = queueing.build_message(queueing.UPDATE_USER, queueing.INTERACTIVE_QUEUE, [user.id])
    message = message.copy(options={"max_age": 1}, message_timestamp=1)  # long expired
    job, _ = JobRun.open(
        message_id=message.message_id,
        actor=queueing.UPDATE_USER,
        args=[user.id],
        subject=user_subject(user.id),
        queue="interactive",
    )
    send_job(job, message)

    done = wait_for(job_finished(job.id), what="the skipped job to end")

    assert done.status == "failed" and "waited too long" in done.error
    assert done.attempts == 1 and demo_spotify.stats()["requests"]["api"] == 0
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name == f"heartbeat-{job.id}"]
