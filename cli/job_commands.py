"""The job commands of the CLI: the same core functions the actors call, run in the
foreground with a progress bar in the terminal."""

from __future__ import annotations

import re
import sys
import uuid

import dramatiq

from actors.redis_broker import redis_ref
from jobs import queueing
from jobs.progress import JobProgress, TerminalProgress
from jobs.tracking import describe, finish_ok, heartbeat
from models import JobRun, User
from models.job_run import CANCELLED, FAILED, RUNNING, user_subject
from spotify.errors import SpotifyError
from sync.artists import refresh_outdated_artists, sync_artist
from sync.context import SyncContext
from sync.refresh_slices import RefreshPass
from sync.users import SyncInterrupted, sync_user

SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")


def _fail(message: str) -> int:
    print(f"overlap: {message}", file=sys.stderr)
    return 1


def run_sync_user(ctx: SyncContext, spotify_id: str, send_artists: bool = True) -> int:
    """Sync one user now; the job row keeps other syncs of that user out meanwhile."""
    user = User.get_or_none(User.spotify_id == spotify_id)
    if user is None:
        return _fail(f"no user with Spotify id {spotify_id!r} has signed in")
    job, created = JobRun.open(
        message_id=f"cli-{uuid.uuid4()}",
        actor=queueing.UPDATE_USER,
        args=[user.id],
        subject=user_subject(user.id),
        queue=queueing.CLI_QUEUE,
        requested_by="cli",
        status=RUNNING,
    )
    if not created:
        return _fail(f"a sync of {spotify_id} is already {job.status} (job {job.id})")
    bar = TerminalProgress(f"sync {spotify_id}", "page", inner=JobProgress(job))
    # The worker's own bookkeeping (jobs/tracking.py): the same heartbeat, so a run whose
    # terminal was killed is found by recovery, and the same words on the row at the end.
    with heartbeat(job):
        try:
            result = sync_user(ctx, user, job=job, progress=bar)
        except SyncInterrupted:
            job.finish(CANCELLED if job.cancel_requested else FAILED, error="stopped")
            bar.close()
            return _fail("the sync was cancelled; what it loaded is kept")
        except SpotifyError as exc:
            job.finish(FAILED, error=describe(exc))
            bar.close()
            return _fail(f"the sync stopped: {exc}")
        except BaseException:
            job.finish(FAILED, error="interrupted")
            raise
    finish_ok(job)
    bar.close()
    counts = ", ".join(f"{n} {source}" for source, n in result.artists_by_source.items())
    print(
        f"synced {spotify_id}: {counts}; {result.links_removed} links removed; "
        f"{result.artists_sent} artists sent for listener counts; "
        f"{result.api_requests} Web API requests"
    )
    return 0


def run_sync_artist(ctx: SyncContext, spotify_id: str) -> int:
    """Bring one artist up to date now."""
    if not SPOTIFY_ID.match(spotify_id):
        return _fail(f"{spotify_id!r} is not a Spotify artist id (22 letters and digits)")
    try:
        outcome = sync_artist(ctx, spotify_id)
    except SpotifyError as exc:
        return _fail(f"Spotify did not answer: {exc}")
    print(f"{spotify_id}: {outcome.replace('_', ' ')}")
    return 0


def run_refresh(dry_run: bool, has_redis: bool = True, pages_rate: float = 10.0) -> int:
    """Count the outdated artists; or begin a pass of the refresh and send its first slice
    (the scheduler's minutely ``refresh_slice`` sends the rest at the page rate)."""
    if dry_run:
        result = refresh_outdated_artists(dry_run=True)
        note = "" if has_redis else " (REDIS_URL is not set, so nothing was sent)"
        print(f"{result.outdated} artists are outdated{note}")
        return 0
    refresh = RefreshPass(redis_ref(dramatiq.get_broker()))
    started = refresh.start()
    first = refresh.send_slice(pages_rate)
    state = "a new pass" if started else "the pass under way"
    print(
        f"{first.sent} artists sent to the bulk queue ({state}); the scheduler sends the"
        " rest a minute at a time, as the page rate takes them"
    )
    return 0
