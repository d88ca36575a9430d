"""The JobRuns middleware with a real worker: a delivery of a job whose row still says running
waits for its heartbeat to stop instead of being dropped."""

from __future__ import annotations

import datetime as dt
import time

from actors.testing import job_finished, wait_for
from jobs import queueing
from jobs.queueing import send_job
from models import JobRun
from models.db import utcnow
from models.job_run import HEARTBEAT_TIMEOUT, user_subject


def test_a_retry_finding_its_row_still_running_waits_for_the_heartbeat_and_then_runs(
    sign_in, worker, demo_spotify
):
    # Given a job whose worker lost the database mid-run: it could not record the failure,
    # so the row says running, with a heartbeat 1 s old, when the retry arrives.
    user = sign_in("cleo")
    message = queueing.build_message(queueing.UPDATE_USER, queueing.INTERACTIVE_QUEUE, [user.id])
    job, _ = JobRun.open(
        message_id=message.message_id,
        actor=queueing.UPDATE_USER,
        args=[user.id],
        subject=user_subject(user.id),
        queue=queueing.INTERACTIVE_QUEUE,
        status="running",
    )
    last_beat = utcnow() - dt.timedelta(seconds=1)
    JobRun.update(heartbeat_at=last_beat, attempts=1).where(JobRun.id == job.id).execute()
    sent_at = time.monotonic()

    # When the retry is delivered...
    send_job(job, message)
    time.sleep(1)

    # ...then it is neither run nor dropped while the heartbeat is fresh...
    waiting = JobRun.get_by_id(job.id)
    assert (waiting.status, waiting.attempts, waiting.heartbeat_at) == ("running", 1, last_beat)
    # ...and once the heartbeat is stale it takes the job and finishes it.
    done = wait_for(job_finished(job.id), timeout=60, what="the job to finish")
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    stale_after = (HEARTBEAT_TIMEOUT - dt.timedelta(seconds=1)).total_seconds()
    assert time.monotonic() - sent_at >= stale_after
