"""The day's Spotify budget with a real worker: the bulk work stops at 80 % of it, people's
own syncs go on to the end of it, and then wait for the next UTC day."""

from __future__ import annotations

import datetime as dt
import time

import dramatiq
import pytest

from actors import runtime
from actors.testing import enqueued, job_finished, wait_for
from jobs import queueing
from models import Artist, JobRun, User, current_month
from spotify.gate import SpotifyGate, next_utc_day
from sync.users import sync_if_needed

BUDGET = 100


@pytest.fixture
def budget_worker(app_settings, namespace, db):
    """A broker and a worker on every queue, under a daily budget of ``BUDGET`` requests."""
    from actors.broker import configure

    settings = app_settings.but(redis_namespace=namespace, spotify_daily_budget=BUDGET)
    broker = configure(settings)
    runtime.configure(settings)
    from actors import artists, periodic, users  # noqa: F401  (declares the actors)

    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    yield broker, runtime.context().gate
    worker.stop()
    broker.flush_all()
    for key in broker.client.scan_iter(f"{namespace}*"):
        broker.client.delete(key)
    broker.close()


def spend(gate: SpotifyGate, requests: int) -> None:
    """Pretend ``requests`` Web API requests were made today."""
    gate._redis.set(gate.day_key("api", time.time()), requests)


def send_bulk_update(demo_spotify) -> str:
    """One monthly-refresh message for an artist nobody has yet; its id."""
    spotify_id = demo_spotify.catalog.user("dmitri").followed[0]
    queueing.send_many(queueing.UPDATE_ARTIST, queueing.BULK_QUEUE, [[spotify_id]])
    return spotify_id


def test_past_80_percent_the_bulk_work_waits_for_tomorrow_while_a_sync_goes_on(
    budget_worker, sign_in, demo_spotify
):
    broker, gate = budget_worker
    spend(gate, int(BUDGET * 0.8))
    spotify_id = send_bulk_update(demo_spotify)
    job = sync_if_needed(runtime.context(), sign_in("cleo"))

    done = wait_for(job_finished(job.id), what="Cléo's sync")
    [deferred] = wait_for(lambda: enqueued(broker, queueing.BULK_QUEUE, delayed=True))

    assert done.status == "succeeded"
    assert gate.requests_today() == 80 + done.api_requests  # the sync spent the last 20 %
    assert not Artist.is_up_to_date(spotify_id, current_month())
    assert list(deferred.args) == [spotify_id]
    eta = deferred.options["eta"] / 1000
    assert abs(eta - next_utc_day(time.time())) < 60


def test_under_80_percent_the_bulk_work_runs(budget_worker, sign_in, demo_spotify):
    broker, gate = budget_worker
    spend(gate, int(BUDGET * 0.8) - 1)
    spotify_id = send_bulk_update(demo_spotify)

    wait_for(lambda: Artist.is_up_to_date(spotify_id, current_month()), what="the bulk update")

    assert not enqueued(broker, queueing.BULK_QUEUE, delayed=True)


def test_with_the_budget_spent_a_sync_waits_for_the_next_utc_day_and_says_when(
    budget_worker, sign_in, demo_spotify
):
    broker, gate = budget_worker
    spend(gate, BUDGET)
    user = sign_in("cleo")

    job = sync_if_needed(runtime.context(), user)
    waiting = wait_for(
        lambda: (j := JobRun.get_by_id(job.id)).resume_at is not None and j,
        what="the sync to be deferred",
    )

    assert waiting.status == "retrying"
    resume_at = waiting.resume_at.replace(tzinfo=dt.UTC).timestamp()  # stored as naive UTC
    assert abs(resume_at - next_utc_day(time.time())) < 60
    assert demo_spotify.stats()["requests"]["api"] == 0
    assert User.get_by_id(user.id).last_synced_at is None
    assert gate.requests_today() == BUDGET
