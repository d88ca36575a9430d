"""The dashboard's schedules: every periodic job with its cron, next and last run, the
lease holder, and a "run now" that takes the minute's tick so it never doubles one."""

from __future__ import annotations

import re
import time

import pytest

from actors.scheduler_lease import Claim, SchedulerLease
from config.redis_ref import RedisRef
from models import AuditEntry, JobRun
from models.db import utcnow
from ops.schedules import SCHEDULES


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def admin(web, signed_in_web):
    signed_in_web("emma")
    return web


def test_every_periodic_job_is_listed_with_its_cron_next_run_and_the_lease_holder(admin, broker):
    SchedulerLease(RedisRef.of(broker), holder_id="sched-host:42").keep()

    page = admin.get("/admin/schedules")

    for actor, spec in SCHEDULES.items():
        assert f"<td>{actor}</td>" in page.text and f"<code>{spec}</code>" in page.text
    assert "held by <strong>sched-host:42</strong>" in page.text
    assert 'aria-current="page" class="current">Schedules' in page.text
    assert page.text.count('/run"') == len(SCHEDULES)


def test_run_now_runs_the_job_once_and_the_scheduler_then_skips_that_minute(admin, broker, worker):
    token = csrf(admin.get("/admin/schedules"))
    before = utcnow()

    answer = admin.post("/admin/schedules/clean_job_runs/run", {"csrf_token": token})
    again = admin.post(
        "/admin/schedules/clean_job_runs/run", {"csrf_token": token}, expect_errors=True
    )
    after = utcnow()
    worker.join()
    time.sleep(0.3)

    assert answer.status_int == 303 and "notice=ran" in answer.headers["Location"]
    if before.minute == after.minute:  # a minute boundary between the two lets both in
        assert again.status_int == 409
    runs = list(JobRun.select().where(JobRun.actor == "clean_job_runs"))
    assert [r.status for r in runs] == ["succeeded"] * (1 if again.status_int == 409 else 2)
    # The scheduler's own tick of that minute finds it taken.
    lease = SchedulerLease(RedisRef.of(broker))
    assert lease.claim_tick("clean_job_runs", before) is Claim.ALREADY_SENT
    assert [(e.who, e.action, e.target) for e in AuditEntry.select()][0] == (
        "admin:emma", "run-now", "schedule:clean_job_runs"
    )  # fmt: skip
    page = admin.get("/admin/schedules")
    assert f'href="/admin/jobs/{runs[0].id}"' in page.text


def test_run_now_refuses_non_admins_unknown_jobs_and_a_missing_csrf_token(
    admin, web, signed_in_web, broker
):
    token = csrf(admin.get("/admin/schedules"))
    assert admin.post("/admin/schedules/nope/run", {"csrf_token": token},
                      expect_errors=True).status_int == 404  # fmt: skip
    assert admin.post("/admin/schedules/recover/run", expect_errors=True).status_int == 403
    signed_in_web("cleo")
    token = csrf(web.get("/admin", expect_errors=True))
    assert web.post("/admin/schedules/recover/run", {"csrf_token": token},
                    expect_errors=True).status_int == 403  # fmt: skip
    assert web.get("/admin/schedules", expect_errors=True).status_int == 403
    assert not AuditEntry.select().exists()
    assert broker.client.llen(f"{broker.namespace}:periodic") == 0
