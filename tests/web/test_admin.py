"""The operations dashboard: admins only, its pages render against a database full of
runs, the job list filters and pages, and every action does what it says."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from actors.testing import assert_enqueued_with
from config.redis_ref import RedisRef
from models import AuditEntry, JobRun, User
from models.db import utcnow
from models.job_run import user_subject
from ops.pause import paused_queues
from tests.web.test_escaping import OWN_STYLE

GETS = [
    "/admin",
    "/admin/jobs",
    "/admin/jobs?status=failed",
    "/admin/jobs/1",
    "/admin/jobs/cancel-active",
    "/admin/jobs/retry-failed",
    "/admin/dead",
    "/admin/dead/bulk/all/delete",
    "/admin/schedules",
    "/admin/audit",
]
POSTS = [
    "/admin/jobs/1/retry",
    "/admin/jobs/1/cancel",
    "/admin/jobs/cancel-active",
    "/admin/jobs/retry-failed",
    "/admin/jobs/clean",
    "/admin/queues/bulk/pause",
    "/admin/queues/bulk/resume",
    "/admin/dead/bulk/all/requeue",
    "/admin/dead/bulk/all/delete",
    "/admin/schedules/recover/run",
]


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def runs(n: int, **fields) -> list[int]:
    """Insert ``n`` runs (one insert); returns their ids."""
    base = {"actor": "update_user", "queue": "interactive", "args": [1], "status": "succeeded"}
    rows = [
        {**base, "message_id": f"m-{fields.get('status', 's')}-{i}-{utcnow().timestamp()}",
         "subject": f"test:{i}", "finished_at": utcnow(), **fields}
        for i in range(n)
    ]  # fmt: skip
    JobRun.insert_many(rows).execute()
    return [j.id for j in JobRun.select(JobRun.id).order_by(JobRun.id.desc()).limit(n)]


@pytest.fixture
def admin(web, signed_in_web):
    signed_in_web("emma")
    return web


def test_everyone_but_an_admin_is_refused_every_page_and_action(web, signed_in_web):
    runs(1, status="failed")
    for path in GETS:
        assert web.get(path).status_int == 303  # signed out: sign in first
    signed_in_web("cleo")
    token = csrf(web.get("/admin", expect_errors=True))
    for path in GETS:
        assert web.get(path, expect_errors=True).status_int == 403, path
    for path in POSTS:
        response = web.post(path, {"csrf_token": token, "days": "1"}, expect_errors=True)
        assert response.status_int == 403, path
        assert "Only the app" in response.text
    assert JobRun.select().where(JobRun.status == "failed").count() == 1


def test_the_overview_says_which_workers_fetch_nothing_for_their_clock(admin, broker):
    from ops.workers import WorkerInfo, write_worker

    now = dt.datetime.now(dt.UTC)
    for worker_id, offset, held in (("ahead", -120.0, True), ("right", 0.2, False)):
        write_worker(RedisRef.of(broker), WorkerInfo(
            id=worker_id, host=worker_id, pid=1, queues=("bulk",), threads=1, started_at=now,
            heartbeat_at=now, broker_id=worker_id, clock_offset=offset, clock_held=held,
        ))  # fmt: skip

    page = admin.get("/admin").text

    assert '<td class="warn">120.0 s ahead of Redis&#39;s: fetching nothing</td>' in page
    assert "<td>0.2 s behind Redis&#39;s</td>" in page
    assert "1 worker process fetches nothing: its host's clock is more than 5 s" in page


def test_the_overview_says_which_web_or_scheduler_process_is_off_redis_s_clock(admin, broker):
    from ops.clock_watch import ProcessClock, write_report

    ref = RedisRef.of(broker)
    seconds, micros = broker.client.time()
    for process_id, offset, skewed in (("scheduler:a:1", 120.0, True), ("web:b:2", 0.3, False)):
        clock = ProcessClock(
            process_id, process_id.split(":")[0], offset, skewed, "it sends no tick"
        )
        write_report(ref, clock, expires_at=seconds + micros / 1e6 + 60)

    page = admin.get("/admin").text

    assert (
        "The scheduler process scheduler:a:1: its host's clock is 120.0 s behind "
        "Redis&#39;s: it sends no tick." in page
    ), page
    assert "web:b:2" not in page  # a clock within 5 s is nothing to say


def test_the_overview_shows_queues_workers_spotify_and_failures(admin):
    runs(1, status="failed", error="ServerError: <b>503</b>")

    page = admin.get("/admin")

    for text in ("Queues", "interactive", "bulk", "Workers", "Spotify", "Scheduler"):
        assert text in page.text
    assert "No worker is running" in page.text
    assert "ServerError: &lt;b&gt;503&lt;/b&gt;" in page.text
    assert (
        "<svg" in page.text and "Messages that succeeded and failed tries per minute" in page.text
    )
    fragment = admin.get("/admin", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="overview"')


def test_the_job_list_filters_and_pages_through_many_runs(admin):
    runs(120)
    failed = runs(60, status="failed", actor="refresh_listeners", subject="actor:refresh")

    page = admin.get("/admin/jobs", params={"status": "failed"})
    shown = [int(i) for i in re.findall(r'href="/admin/jobs/(\d+)"', page.text)]
    assert shown == failed[:50]
    older = re.search(r'href="/admin/jobs\?([^"]+)">Older', page.text).group(1)
    second = admin.get("/admin/jobs?" + older.replace("&amp;", "&"))
    assert [int(i) for i in re.findall(r'href="/admin/jobs/(\d+)"', second.text)] == failed[50:]
    assert "Older" not in second.text

    by_actor = admin.get("/admin/jobs", params={"actor": "update_user", "since": "1h"})
    assert len(re.findall(r'href="/admin/jobs/\d+"', by_actor.text)) == 50
    assert "refresh_listeners" not in by_actor.text.split("<table")[1]

    for bad in ({"status": "nope"}, {"since": "1y"}, {"before": "x1"}, {"actor": "a" * 65}):
        assert admin.get("/admin/jobs", params=bad, expect_errors=True).status_int == 400


def test_a_job_page_shows_progress_error_and_traceback_and_stops_polling_when_done(admin):
    [job_id] = runs(1, status="failed", error="Boom", traceback="Traceback <frames>",
                    progress_current=3, progress_total=10, subject="user:<script>",
                    api_requests=1234)  # fmt: skip

    page = admin.get(f"/admin/jobs/{job_id}")
    assert 'value="3" max="10"' in page.text and "Boom" in page.text
    assert re.search(r"Web API requests</th><td>1,234<", page.text)
    assert "Traceback &lt;frames&gt;" in page.text and "<script>" not in page.text
    assert "Retry" in page.text
    done = admin.get(f"/admin/jobs/{job_id}", headers={"HX-Request": "true"}, status=286)
    assert "hx-trigger" not in done.text
    assert admin.get("/admin/jobs/999999", expect_errors=True).status_int == 404


def test_retrying_a_failed_job_sends_a_new_run(admin, broker):
    [job_id] = runs(1, status="failed", args=[42], subject="user:42")
    token = csrf(admin.get("/admin"))

    answer = admin.post(f"/admin/jobs/{job_id}/retry", {"csrf_token": token})

    new = JobRun.select().order_by(JobRun.id.desc()).first()
    assert answer.status_int == 303 and answer.headers["Location"].endswith(
        f"/admin/jobs/{new.id}?notice=retried"
    )
    assert (new.status, new.args, new.subject, new.requested_by) == (
        "queued", [42], "user:42", "admin:emma"
    )  # fmt: skip
    assert_enqueued_with(broker, "interactive", "update_user", [42])
    assert JobRun.get_by_id(job_id).status == "failed"  # the record stays
    again = admin.post(f"/admin/jobs/{job_id}/retry", {"csrf_token": token})
    assert "already-active" in again.headers["Location"]
    succeeded = runs(1)[0]
    assert admin.post(f"/admin/jobs/{succeeded}/retry", {"csrf_token": token},
                      expect_errors=True).status_int == 409  # fmt: skip


def test_cancel_all_retry_all_and_clean(admin, broker):
    runs(3, status="queued", finished_at=None)
    runs(2, status="failed", subject=None)
    old = runs(4, finished_at=utcnow() - dt.timedelta(days=40))
    token = csrf(admin.get("/admin"))
    active = JobRun.select().where(JobRun.status == "queued").count()  # 3, and Emma's sync
    assert active >= 3

    answer = admin.post("/admin/jobs/cancel-active", {"csrf_token": token})
    assert f"n={active}" in answer.headers["Location"]
    assert JobRun.select().where(JobRun.status == "queued").count() == 0

    admin.post("/admin/jobs/clean", {"csrf_token": token, "days": "30"})
    assert not JobRun.select().where(JobRun.id.in_(old)).exists()
    assert admin.post("/admin/jobs/clean", {"csrf_token": token, "days": "0"},
                      expect_errors=True).status_int == 400  # fmt: skip

    answer = admin.post("/admin/jobs/retry-failed", {"csrf_token": token})
    assert "n=2" in answer.headers["Location"]
    assert JobRun.select().where(JobRun.status == "queued").count() == 2


def test_pausing_and_resuming_a_queue(admin, broker):
    token = csrf(admin.get("/admin"))

    admin.post("/admin/queues/bulk/pause", {"csrf_token": token})
    assert "bulk" in paused_queues(RedisRef.of(broker))
    assert "paused" in admin.get("/admin").text
    resumed = admin.post("/admin/queues/bulk/resume", {"csrf_token": token})
    assert "bulk" not in paused_queues(RedisRef.of(broker))
    assert "The bulk queue is running again." in resumed.follow().text
    again = admin.post("/admin/queues/bulk/resume", {"csrf_token": token})
    assert "Nothing was paused, so nothing changed." in again.follow().text
    assert admin.post("/admin/queues/nope/pause", {"csrf_token": token},
                      expect_errors=True).status_int == 404  # fmt: skip


def audit_rows() -> list[tuple[str, str, str, int]]:
    return [
        (e.who, e.action, e.target, e.count) for e in AuditEntry.select().order_by(AuditEntry.id)
    ]


def test_every_action_is_on_the_audit_trail_with_who_what_and_how_many(admin, broker):
    # Ben's failed sync: a person of its own, never Emma, whose sign-in queued her own sync.
    # (A made-up "user:5" was Emma's subject whenever she was the session's fifth user,
    # as user ids are never reused: the retry then gave back her queued sync.)
    ben = User.sign_in("ben", "Ben", {})
    [failed] = runs(1, status="failed", args=[ben.id], subject=user_subject(ben.id))
    runs(2, finished_at=utcnow() - dt.timedelta(days=40))
    token = csrf(admin.get("/admin"))

    admin.post("/admin/queues/bulk/pause", {"csrf_token": token})
    admin.post("/admin/queues/bulk/resume", {"csrf_token": token})
    retry = admin.post(f"/admin/jobs/{failed}/retry", {"csrf_token": token})
    retried = JobRun.get_by_id(int(re.search(r"/admin/jobs/(\d+)", retry.location).group(1)))
    assert (retried.id != failed, retried.status) == (True, "queued")
    admin.post(f"/admin/jobs/{retried.id}/cancel", {"csrf_token": token})
    admin.post("/admin/jobs/clean", {"csrf_token": token, "days": "30"})

    assert audit_rows() == [
        ("admin:emma", "pause", "queue:bulk", 1),
        ("admin:emma", "resume", "queue:bulk", 1),
        ("admin:emma", "retry", f"job:{failed}", 1),
        ("admin:emma", "cancel", f"job:{retried.id}", 1),
        ("admin:emma", "clean", "jobs:older-than-30d", 2),
    ]
    overview = admin.get("/admin").text
    assert "Latest operator actions" in overview and "<code>job:" in overview
    trail = admin.get("/admin/audit").text
    assert trail.count("<td>admin:emma</td>") == 5
    assert 'aria-current="page" class="current">Audit' in trail


def test_the_audit_trail_is_kept_as_long_as_failed_runs_and_no_longer(db, broker):
    from actors.periodic import clean_job_runs

    AuditEntry.record("admin:emma", "pause", "queue:bulk")
    AuditEntry.update(at=utcnow() - dt.timedelta(days=31)).execute()
    AuditEntry.record("admin:emma", "resume", "queue:bulk")

    clean_job_runs.fn()

    assert [e.action for e in AuditEntry.select()] == ["resume"]


def test_bulk_actions_ask_first_with_the_count_they_will_touch(admin, broker):
    runs(3, status="queued", finished_at=None)
    runs(2, status="failed", subject=None)
    active = JobRun.select().where(JobRun.status == "queued").count()
    jobs = admin.get("/admin/jobs").text
    bulk = jobs.split('class="bulk danger-zone"')[1]
    assert "<form" not in jobs.split('class="filters"')[1].split("</form>")[0].split("action=")[0]
    assert f"Cancel everything queued or running ({active})" in bulk and "Retry all failed…" in bulk
    assert 'method="post" action="/admin/jobs/cancel-active"' not in jobs  # a link, not a POST

    confirm = admin.get("/admin/jobs/cancel-active")
    assert f"{active} jobs are queued, running or retrying" in confirm.text
    assert f"Cancel {active} jobs" in confirm.text
    assert JobRun.select().where(JobRun.status == "queued").count() == active  # nothing yet
    assert "2 failed runs will be looked at" in admin.get("/admin/jobs/retry-failed").text


def test_tabs_mark_the_current_page_and_pages_carry_no_inline_script_or_style(admin, broker):
    pages = {
        "/admin": "Overview",
        "/admin/jobs": "Jobs",
        "/admin/jobs?status=failed": "Failed runs",
        "/admin/dead": "Dead letters",
        "/admin/schedules": "Schedules",
        "/admin/audit": "Audit",
    }
    for path, tab in pages.items():
        text = admin.get(path).text
        assert re.findall(r'aria-current="page" class="current">([^<]+)<', text)[:1] == [tab]
        # The site's stylesheet, carried inline by every page and let in by its hash, aside.
        text = text.replace(OWN_STYLE, "", 1)
        assert "style=" not in text and "<style" not in text, path
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", text)), path
        assert re.search(r'<script src="/static/admin\.[0-9a-f]{10}\.js" defer></script>', text)
    overview = admin.get("/admin").text
    assert "<th>Spotify service</th>" in overview and "<th>Host</th>" not in overview
    assert 'id="autorefresh"' in overview and "data-autorefresh" in overview
    assert admin.get("/static/admin.js").status_int == 200
    assert admin.get("/static/admin.css").status_int == 200


def test_the_overview_shows_each_actors_percentiles_beside_the_chart(admin, broker):
    from ops.counters import CounterBuffer

    buffer = CounterBuffer()
    for ms in (3, 3, 3, 700):
        buffer.record("update_artist", "succeeded", ms)
    buffer.flush(RedisRef.of(broker))

    page = admin.get("/admin").text

    durations = page.split("Durations, last hour")[1].split("</table>")[0]
    assert "<td>update_artist</td>" in durations and '<td class="num">4</td>' in durations
    assert re.search(r'<td class="num">[\d.]+ ms</td>', durations)


def test_cancel_everything_is_disabled_when_nothing_is_active(admin):
    runs(2, status="failed")
    JobRun.update(status="succeeded").where(JobRun.status == "queued").execute()  # Emma's sync

    jobs = admin.get("/admin/jobs").text

    bulk = jobs.split('class="bulk danger-zone"')[1]
    assert "disabled>Cancel everything queued or running (none now)" in bulk
    assert 'href="/admin/jobs/cancel-active"' not in bulk


def test_run_now_asks_first_and_the_pause_notice_names_the_queue(admin, broker):
    confirm = admin.get("/admin/schedules/refresh_listeners/run")
    assert "Run refresh_listeners now?" in confirm.text and "17 3 * * *" in confirm.text
    assert 'action="/admin/schedules/refresh_listeners/run"' in confirm.text
    assert admin.get("/admin/schedules/nope/run", expect_errors=True).status_int == 404
    schedules = admin.get("/admin/schedules").text
    assert 'method="post" action="/admin/schedules/' not in schedules  # a link to the question

    paused = admin.post("/admin/queues/artists/pause", {"csrf_token": csrf(confirm)})
    assert "The artists queue is paused" in paused.follow().text
    forged = admin.get("/admin", params={"notice": "paused", "queue": "<b>x</b>"}).text
    assert "queue is paused" not in forged  # a queue the address names must be a real one
