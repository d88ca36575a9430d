"""When a person may force another refresh of their library.

A forced refresh is a whole sync (hundreds of Web API requests for a large library), and
three POSTs 2.5 s apart made three of them. A person may ask again once
``REFRESH_COOLDOWN_SECONDS`` have passed since their latest sync was asked for, by
whatever asked (sign-in, a comparison, a refresh): the library was loaded just now. The
rule reads the job rows, so it holds across web processes and without Redis.
"""

from __future__ import annotations

import datetime as dt

from jobs import queueing
from models import JobRun, User
from models.db import utcnow
from models.job_run import user_subject


def next_refresh_at(user: User, cooldown_s: int) -> dt.datetime | None:
    """When ``user`` may force a refresh again, or None when they may now."""
    if cooldown_s <= 0:
        return None
    latest = JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))
    if latest is None or latest.enqueued_at is None:
        return None
    at = latest.enqueued_at + dt.timedelta(seconds=cooldown_s)
    return at if at > utcnow() else None
