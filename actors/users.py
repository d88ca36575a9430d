"""``update_user``: load one person's library in the background (thin: see sync.users)."""

from __future__ import annotations

import dramatiq
from dramatiq import Retry

from actors import runtime
from actors.middleware.job_runs import current_job
from actors.retry_policy import retry_when
from jobs import queueing
from models import User
from spotify.errors import RateLimited
from sync.users import SyncInterrupted, sync_user


@dramatiq.actor(
    actor_name=queueing.UPDATE_USER,
    queue_name=queueing.INTERACTIVE_QUEUE,
    tracked=True,
    retry_when=retry_when,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=30 * 60 * 1000,
    priority=0,
)
def update_user(user_id: int) -> None:
    """Sync the user's followed, saved-track and saved-album artists."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        return  # They deleted their data after asking; nothing to do.
    job = current_job()
    try:
        sync_user(runtime.context(), user, job=job, should_stop=runtime.stopping.is_set)
    except RateLimited as exc:
        # Spotify asked everyone to wait: hand the message back for later instead of
        # holding a worker thread asleep (the wait can be hours when the quota is spent).
        raise Retry(str(exc), delay=int(exc.retry_after * 1000)) from exc
    except SyncInterrupted as exc:
        if job is not None and job.cancel_requested:
            return  # Cancelled: the job-runs middleware ends the row "cancelled".
        raise Retry(str(exc), delay=0) from exc
