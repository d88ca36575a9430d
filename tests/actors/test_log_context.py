"""A real worker's log lines name the message they are about: its id and actor, the
request that sent it, and for a tracked job its row and person; and the next message's
lines do not inherit them."""

from __future__ import annotations

import io
import json
import logging

from actors import runtime
from actors.testing import job_finished, wait_for
from config import logs
from models import JobRun
from sync.users import sync_if_needed


def test_a_job_s_lines_carry_its_message_its_row_its_person_and_its_request(
    sign_in, worker, settings
):
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logs.formatter(settings.but(log_format="json"), "worker"))
    job_log = logging.getLogger("actors.middleware.job_runs")
    job_log.addHandler(handler)
    job_log.setLevel(logging.INFO)
    user = sign_in("cleo")
    try:
        # Given a sync sent while a request's context is bound, as the web sends it.
        token = logs.begin(request_id="r-sync-1")
        job = sync_if_needed(runtime.context(), user)
        logs._context.reset(token)
        # When the worker runs it...
        wait_for(job_finished(job.id), what="the sync")
        wait_for(lambda: "succeeded" in lines.getvalue(), what="its line")
    finally:
        job_log.removeHandler(handler)

    # ...then its line names it all.
    line = next(json.loads(t) for t in lines.getvalue().splitlines() if "succeeded" in t)
    row = JobRun.get_by_id(job.id)
    assert {k: line.get(k) for k in ("request_id", "actor", "job_id", "user_id", "message_id")} == {
        "request_id": "r-sync-1",
        "actor": "update_user",
        "job_id": str(job.id),
        "user_id": str(user.id),
        "message_id": row.message_id,
    }
    assert line["message"] == f"update_user job {job.id} succeeded"


def test_the_context_ends_with_the_message(sign_in, worker, broker):
    from actors.middleware.log_context import LogContext

    middleware = next(m for m in broker.middleware if isinstance(m, LogContext))

    class Message:
        message_id, actor_name, options = "m-1", "update_artist", {"request_id": "r-1"}

    middleware.before_process_message(broker, Message())
    assert logs.current() == {"message_id": "m-1", "actor": "update_artist", "request_id": "r-1"}
    middleware.after_process_message(broker, Message(), result=None, exception=None)
    assert logs.current() == {}
