"""Finished job runs past their retention are removed in batches (succeeded after a week,
failed and cancelled after a month); younger ones and every active run stay."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest

from actors.testing import job_finished, wait_for
from jobs.retention import (
    clean_finished_runs,
    count_expired_runs,
    describe,
    remove_unheld_artists,
    retention,
    retention_of_days,
)
from models import JobRun
from models.db import utcnow
from models.job_run import ACTIVE, CANCELLED, FAILED, STATUSES, SUCCEEDED

NOW = dt.datetime(2026, 5, 4, 12, 0)
WEEK_AND_MONTH = {
    SUCCEEDED: dt.timedelta(days=7),
    FAILED: dt.timedelta(days=30),
    CANCELLED: dt.timedelta(days=30),
}
_ids = itertools.count()


def run(status: str, age_days: float, now: dt.datetime = NOW) -> int:
    """A run of ``status`` that finished ``age_days`` before ``now`` (active ones say so too,
    as a run put back to queued after it once ended would)."""
    at = now - dt.timedelta(days=age_days)
    job = JobRun.create(
        message_id=f"m-{next(_ids)}",
        actor="update_user",
        args=[1],
        subject=None,
        queue="interactive",
        status=status,
        enqueued_at=at - dt.timedelta(minutes=5),
        finished_at=at,
    )
    return job.id


def every_status_and_age() -> dict[tuple[str, int], int]:
    """One run of every status at 1, 6, 8, 29 and 31 days old."""
    return {(s, age): run(s, age) for s in STATUSES for age in (1, 6, 8, 29, 31)}


def remaining() -> set[int]:
    return {job.id for job in JobRun.select(JobRun.id)}


def test_only_finished_runs_past_their_status_s_retention_are_removed(db):
    runs = every_status_and_age()

    cleanup = clean_finished_runs(WEEK_AND_MONTH, now=NOW)

    gone = {
        (SUCCEEDED, 8),
        (SUCCEEDED, 29),
        (SUCCEEDED, 31),
        (FAILED, 31),
        (CANCELLED, 31),
    }
    assert cleanup.removed == len(gone)
    assert remaining() == {job_id for key, job_id in runs.items() if key not in gone}
    assert {s for (s, _), job_id in runs.items() if job_id in remaining()} >= set(ACTIVE)


def test_active_runs_are_never_removed_even_when_asked(db):
    old_active = [run(status, 400) for status in ACTIVE]

    with pytest.raises(ValueError, match="only finished runs"):
        clean_finished_runs({"running": dt.timedelta(days=1)}, now=NOW)
    clean_finished_runs(retention_of_days(1), now=NOW)

    assert remaining() == set(old_active)


def test_a_batch_of_two_still_removes_them_all_and_keeps_the_rest(db):
    # Old succeeded runs interleaved in finished_at order with failed runs young enough to stay.
    expired = [run(SUCCEEDED, 8 + i) for i in range(9)]
    kept = [run(FAILED, 8.5 + i) for i in range(9)]

    cleanup = clean_finished_runs(WEEK_AND_MONTH, batch=2, now=NOW)

    assert cleanup.removed == len(expired)
    assert cleanup.batches == 5  # 2 + 2 + 2 + 2 + 1
    assert remaining() == set(kept)


def test_runs_that_finished_at_the_same_moment_are_all_removed_across_batches(db):
    same_moment = NOW - dt.timedelta(days=40)
    tied = [run(status, 40) for status in (SUCCEEDED, FAILED, CANCELLED) * 3]
    assert {JobRun.get_by_id(i).finished_at for i in tied} == {same_moment}

    cleanup = clean_finished_runs(WEEK_AND_MONTH, batch=2, now=NOW)

    assert cleanup.removed == len(tied)
    assert remaining() == set()


def test_the_dry_run_count_is_what_a_cleanup_removes(db):
    every_status_and_age()

    counted = count_expired_runs(WEEK_AND_MONTH, now=NOW)

    assert counted == clean_finished_runs(WEEK_AND_MONTH, now=NOW).removed == 5
    assert count_expired_runs(WEEK_AND_MONTH, now=NOW) == 0


def test_the_retention_comes_from_the_settings(settings):
    custom = settings.but(job_retention_succeeded_days=2, job_retention_failed_days=90)

    assert retention(settings) == WEEK_AND_MONTH
    assert retention(custom) == {
        SUCCEEDED: dt.timedelta(days=2),
        FAILED: dt.timedelta(days=90),
        CANCELLED: dt.timedelta(days=90),
    }
    assert describe(retention(settings)) == (
        "succeeded older than 7 days, failed and cancelled older than 30 days"
    )
    assert describe(retention_of_days(1)) == "succeeded, failed and cancelled older than 1 day"


def test_the_hourly_actor_removes_them_on_a_worker(worker, broker):
    from actors.periodic import clean_job_runs

    now = utcnow()
    old = [run(SUCCEEDED, 8, now), run(FAILED, 31, now)]
    young = [run(SUCCEEDED, 6, now), run(FAILED, 29, now), run("running", 60, now)]

    message = clean_job_runs.send()
    job = wait_for(lambda: JobRun.by_message_id(message.message_id), 30, "the cleanup's row")
    done = wait_for(job_finished(job.id), timeout=30, what="the cleanup to finish")

    assert done.status == SUCCEEDED, done.error
    assert not remaining() & set(old)
    assert remaining() >= set(young)


def test_after_a_deletion_the_hourly_run_removes_the_artists_nobody_holds_any_more(
    worker, broker, web, signed_in_web
):
    from actors.periodic import clean_job_runs
    from models import Artist, ArtistListeners, User
    from tests.web.comparing import opened
    from tests.web.test_compare import library

    # Given Cléo and Dmitri, synced, who see each other's library: "Nova" is Dmitri's
    # alone, "Both" is theirs, "Hers" Cléo's alone; their syncs were two hours ago
    cleo, dmitri = User.sign_in("cleo", "Cléo", {}), User.sign_in("dmitri", "Dmitri", {})
    User.update(last_synced_at=utcnow()).execute()
    library(dmitri, {"Nova": 1_000, "Both": 2_000})
    library(cleo, {"Both": 2_000, "Hers": 3_000})
    Artist.update(updated_at=utcnow() - dt.timedelta(hours=2)).execute()
    # ... and an artist a sync has just written, before the link that will say whose it is
    fresh = Artist.create(spotify_id="0" * 21 + "F", name="Fresh")
    nova = Artist.get(Artist.name == "Nova")
    signed_in_web("cleo")
    opened(web, dmitri)
    assert web.get(f"/artists/{nova.spotify_id}").status_int == 200

    # When Dmitri deletes his account, and the hourly cleanup runs on a worker
    signed_in_web("dmitri")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', web.get("/").text).group(1)
    web.post("/account/delete", {"csrf_token": csrf})
    message = clean_job_runs.send()
    job = wait_for(lambda: JobRun.by_message_id(message.message_id), 30, "the cleanup's row")
    done = wait_for(job_finished(job.id), timeout=30, what="the cleanup to finish")

    # Then the artist he alone had is gone, with its counts; the others stay
    assert done.status == SUCCEEDED, done.error
    names = {a.name for a in Artist.select()}
    assert names == {"Both", "Hers", "Fresh"}
    assert not ArtistListeners.select().where(ArtistListeners.artist == nova.id).exists()
    assert fresh.id in {a.id for a in Artist.select()}
    # ... and its page is the same 404 as an artist overlap never had
    signed_in_web("cleo")
    gone = web.get(f"/artists/{nova.spotify_id}", status=404)
    unknown = web.get(f"/artists/{'0' * 21}Z", status=404)
    assert gone.text == unknown.text.replace(f"{'0' * 21}Z", nova.spotify_id)
    assert web.get(f"/artists/{Artist.get(Artist.name == 'Both').spotify_id}").status_int == 200


def test_unheld_artists_go_in_batches_and_a_held_one_never_does(db):
    from models import Artist, User, UserArtist
    from tests.web.test_compare import library

    ana = User.sign_in("ana", "Ana", {})
    library(ana, {f"Kept {n}": 10 for n in range(3)})
    for n in range(5):
        Artist.create(spotify_id=f"{n:0>22}", name=f"Unheld {n}")
    Artist.update(updated_at=NOW - dt.timedelta(hours=2)).execute()

    removed = remove_unheld_artists(batch=2, now=NOW)

    assert removed == 5
    assert {a.name for a in Artist.select()} == {f"Kept {n}" for n in range(3)}
    assert UserArtist.select().count() == 3
