"""The pages take job statuses from ``JobStatus`` alone: a page polls exactly while its sync
is in one of ``JobStatus.active()``, each status shows its own words, and the dashboard
offers the statuses there are."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest

from models import JobRun, User
from models import job_run as job_run_module
from models.db import utcnow
from models.job_run import JobStatus, user_subject
from tests.web.comparing import opened, words

POLLS = 'hx-trigger="every 2s"'


def cleo_with_sync(signed_in_web, status: JobStatus, **fields) -> User:
    """Cleo signed in, her library loaded once, and her latest sync at ``status``."""
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    User.update(last_synced_at=utcnow()).where(User.id == cleo.id).execute()
    JobRun.update(status=status, **fields).where(JobRun.subject == user_subject(cleo.id)).execute()
    return User.get_by_id(cleo.id)


def test_the_old_status_names_are_the_members_of_job_status():
    assert job_run_module.QUEUED is JobStatus.QUEUED
    assert job_run_module.RUNNING is JobStatus.RUNNING
    assert job_run_module.RETRYING is JobStatus.RETRYING
    assert job_run_module.SUCCEEDED is JobStatus.SUCCEEDED
    assert job_run_module.FAILED is JobStatus.FAILED
    assert job_run_module.CANCELLED is JobStatus.CANCELLED
    assert JobStatus.active() == job_run_module.ACTIVE
    assert JobStatus.finished() == job_run_module.FINISHED
    assert tuple(JobStatus) == job_run_module.STATUSES


def test_every_status_is_either_active_or_finished_never_both():
    active, finished = set(JobStatus.active()), set(JobStatus.finished())

    assert active | finished == set(JobStatus)
    assert not active & finished


def test_a_status_is_the_text_the_column_holds(db):
    run = JobRun.create(message_id="m-1", actor="update_user", queue="interactive")

    stored = JobRun.get_by_id(run.id).status

    assert stored == JobStatus.QUEUED == "queued"
    assert JobStatus(stored) is JobStatus.QUEUED


@pytest.mark.parametrize("status", list(JobStatus))
def test_the_sync_fragment_polls_exactly_while_the_sync_is_active(web, signed_in_web, status):
    cleo_with_sync(signed_in_web, status)

    fragment = web.get("/sync-status")

    active = status in JobStatus.active()
    assert (POLLS in fragment.text) is active
    # The refresh button cannot act while a sync runs, nor during the cooldown after one
    # (this one was just asked for): it says so, and when it can.
    assert re.search(r'<button type="submit"\s+disabled', fragment.text)
    available = "Available once this load is done." if active else "Available at "
    assert available in words(fragment.text)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (JobStatus.QUEUED, "waiting to be loaded"),
        (JobStatus.RUNNING, "Loading your library: 3 of 10 pages."),
        (JobStatus.RETRYING, "Loading your library: 3 of 10 pages."),
        (JobStatus.FAILED, "Loading your library failed."),
        (JobStatus.SUCCEEDED, "Your library is loaded"),
        (JobStatus.CANCELLED, "Your library is loaded"),
    ],
)
def test_each_sync_status_shows_its_own_words(web, signed_in_web, status, words):
    cleo_with_sync(signed_in_web, status, pages_loaded=3, pages_total=10)

    assert words in web.get("/sync-status").text


def test_a_person_never_synced_sees_so_and_nothing_polls(web, signed_in_web):
    cleo = cleo_with_sync(signed_in_web, JobStatus.SUCCEEDED)
    JobRun.delete().where(JobRun.subject == user_subject(cleo.id)).execute()

    fragment = web.get("/sync-status")

    assert "has not been loaded yet" in fragment.text
    assert POLLS not in fragment.text


@pytest.mark.parametrize("status", list(JobStatus))
def test_the_loading_page_moves_on_once_the_sync_is_no_longer_active(web, signed_in_web, status):
    cleo_with_sync(signed_in_web, status)

    page = web.get("/loading", params={"next": "/"})

    assert page.status_int == (200 if status in JobStatus.active() else 303)


@pytest.mark.parametrize("status", list(JobStatus))
def test_the_comparison_is_complete_exactly_when_no_sync_is_active(web, signed_in_web, status):
    ben = User.sign_in("ben", "Ben", {})
    User.update(last_synced_at=utcnow()).where(User.id == ben.id).execute()
    cleo_with_sync(signed_in_web, status, pages_loaded=3, pages_total=10)

    fragment = web.get(opened(web, ben), headers={"HX-Request": "true"}, status=[200, 286])

    active = status in JobStatus.active()
    assert fragment.status_int == (200 if active else 286)
    assert (POLLS in fragment.text) is active
    if active:
        words = {JobStatus.QUEUED: "Waiting to load your library…"}
        assert words.get(status, "Loading your library… 3 of 10 pages") in fragment.text


def test_the_job_list_offers_every_status_and_the_failed_link_filters_by_it(web, signed_in_web):
    signed_in_web("emma")  # the demo's admin

    page = web.get("/admin/jobs")

    offered = re.findall(r'<option value="([a-z]+)"', page.text.split('name="since"')[0])
    assert offered == [str(s) for s in JobStatus]
    assert f'href="/admin/jobs?status={JobStatus.FAILED}"' in page.text


@pytest.mark.parametrize("status", list(JobStatus))
def test_a_job_page_offers_cancel_while_active_and_retry_once_failed_or_cancelled(
    web, signed_in_web, status
):
    signed_in_web("emma")
    job = JobRun.create(
        message_id=f"m-{status}", actor="update_user", queue="interactive", status=status
    )

    page = web.get(f"/admin/jobs/{job.id}")

    assert (f'action="/admin/jobs/{job.id}/cancel"' in page.text) is (status in JobStatus.active())
    assert (f'action="/admin/jobs/{job.id}/retry"' in page.text) is (
        status in (JobStatus.FAILED, JobStatus.CANCELLED)
    )


def test_a_sync_that_gave_up_on_a_failing_spotify_says_when_overlap_tries_again_by_itself(
    web, signed_in_web
):
    # Given Cléo's sync, failed at page 3 of 10 with overlap to try again at 14:05 UTC.
    again = utcnow().replace(hour=14, minute=5, second=0, microsecond=0)
    cleo_with_sync(
        signed_in_web, JobStatus.FAILED, pages_loaded=3, pages_total=10, resume_at=again,
        failures_since_progress=5,
    )  # fmt: skip

    fragment = web.get("/sync-status")

    # Then her page says why and when, polls slowly for the new run, and she may ask now.
    assert (
        "Spotify is failing, so loading your library stopped at 3 of 10 pages. "
        "overlap will try again by itself at 14:05 UTC, from where it stopped."
    ) in words(fragment.text)
    assert 'hx-trigger="every 10s"' in fragment.text and POLLS not in fragment.text
    assert dt.datetime.fromisoformat(web.get("/api/me").json["sync"]["resume_at"]) == again


@pytest.mark.parametrize(
    ("failures", "said"),
    [
        (2, "Spotify is failing; overlap tries again at 14:05 UTC."),
        (0, "Spotify asked us to slow down; loading goes on at 14:05 UTC."),
    ],
)
def test_a_retrying_sync_says_whether_spotify_is_failing_or_asked_us_to_wait(
    web, signed_in_web, failures, said
):
    again = utcnow().replace(hour=14, minute=5, second=7, microsecond=0)
    cleo_with_sync(
        signed_in_web, JobStatus.RETRYING, pages_loaded=3, pages_total=10, resume_at=again,
        failures_since_progress=failures,
    )  # fmt: skip

    fragment = web.get("/sync-status").text
    assert said in words(fragment)
    # The time is the reader's own once the page's script has run; UTC is the fallback.
    assert '<time datetime="' in fragment and 'data-local="time"' in fragment


def test_a_first_sync_that_gave_up_before_any_page_says_so_without_a_page_count(web, signed_in_web):
    again = utcnow().replace(hour=9, minute=41, second=0, microsecond=0)
    cleo_with_sync(signed_in_web, JobStatus.FAILED, resume_at=again, failures_since_progress=5)

    fragment = web.get("/sync-status").text

    assert (
        "Spotify is failing, so your library could not be loaded yet. "
        "overlap will try again by itself at 09:41 UTC."
    ) in words(fragment)
    assert "pages" not in fragment


def test_a_comparison_says_whose_library_spotify_is_failing_and_when_it_goes_on(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    User.update(last_synced_at=utcnow()).where(User.id == ben.id).execute()
    again = utcnow().replace(hour=16, minute=20, second=0, microsecond=0)
    cleo_with_sync(
        signed_in_web, JobStatus.RETRYING, pages_loaded=3, pages_total=10, resume_at=again,
        failures_since_progress=2,
    )  # fmt: skip

    # Typing Ben's code, as a person opens a comparison.
    token = re.search(r'name="csrf-token" content="([^"]+)"', web.get("/").text).group(1)
    opened = web.post("/compare", {"friend_code": ben.friend_code, "csrf_token": token})
    path = urlsplit(opened.headers["Location"]).path
    fragment = web.get(path, headers={"HX-Request": "true"})

    assert "Spotify is failing; loading your library goes on by itself at 16:20 UTC." in (
        words(fragment.text)
    )
    assert "asked us to slow down" not in fragment.text
