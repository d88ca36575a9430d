"""Putting jobs on the queues: the queue and actor names, and sending by actor name.

Senders (the sync, the web, the CLI, recovery) never import the actors: they build a
message by actor name here, so the web process can send without loading the workers. The
queues are named here because both the senders and the workers need them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from config import logs
from models import JobRun
from models.db import utcnow

# The listener counts an open, incomplete comparison waits for: its shared artists. The
# page sends them (jobs/shared_first.py) and every worker reads this queue first.
SHARED_QUEUE = "shared"
# What a person waits for (their own sync).
INTERACTIVE_QUEUE = "interactive"
# Listener counts for artists a person's sync met: someone is waiting for those too.
ARTISTS_QUEUE = "artists"
# The monthly refresh's fan-out, served by its own worker process.
BULK_QUEUE = "bulk"
# periodiq's ticks: small, and never behind anything.
PERIODIC_QUEUE = "periodic"
# Runs started by `overlap sync-user` say this queue; no worker reads it (see recovery).
CLI_QUEUE = "cli"
# Every queue, in the order the worker list and the dashboard show them.
QUEUES = (SHARED_QUEUE, INTERACTIVE_QUEUE, ARTISTS_QUEUE, BULK_QUEUE, PERIODIC_QUEUE)

# The actors' names, spelled here once: the actors are declared with them (actors/) and
# every sender names them through these.
UPDATE_USER = "update_user"
UPDATE_ARTIST = "update_artist"
UPDATE_SHARED_ARTIST = "update_shared_artist"
# The pictures an open comparison's share card shows (sync/pictures.py).
CACHE_PICTURES = "cache_pictures"
# The periodic actors (actors/periodic.py; their crons are in ops/schedules.py).
REFRESH_LISTENERS = "refresh_listeners"
REFRESH_SLICE = "refresh_slice"
RECOVER = "recover"
CLEAN_JOB_RUNS = "clean_job_runs"
# Every actor, as ``dramatiq actors.app`` declares them (tests/actors/test_actor_names.py).
ACTORS = (
    UPDATE_USER,
    UPDATE_ARTIST,
    UPDATE_SHARED_ARTIST,
    CACHE_PICTURES,
    REFRESH_LISTENERS,
    REFRESH_SLICE,
    RECOVER,
    CLEAN_JOB_RUNS,
)

logger = logging.getLogger(__name__)

# The message option that carries the sending request's id (config/logs.py).
REQUEST_ID_OPTION = "request_id"


def build_message(actor_name: str, queue: str, args: Sequence[Any]) -> dramatiq.Message[Any]:
    """A message for ``actor_name`` with a fresh id (sent later with ``send``), carrying
    the id of the request (or of the message) that sends it, for the worker's log lines."""
    request_id = logs.current().get("request_id")
    return dramatiq.Message(
        queue_name=queue,
        actor_name=actor_name,
        args=tuple(args),
        kwargs={},
        options={REQUEST_ID_OPTION: request_id} if request_id else {},
    )


def send(message: dramatiq.Message[Any], delay_ms: int | None = None) -> dramatiq.Message[Any]:
    """Enqueue one message on the process's broker."""
    return dramatiq.get_broker().enqueue(message, delay=delay_ms)


def send_many(
    actor_name: str,
    queue: str,
    arg_lists: Iterable[Sequence[Any]],
    also: Callable[[Any], object] | None = None,
) -> int:
    """Enqueue one message per argument list in one Redis round trip; returns how many.
    ``also`` adds commands of its own to that round trip (not atomically); only on the
    Redis broker."""
    broker = dramatiq.get_broker()
    messages = [build_message(actor_name, queue, args) for args in arg_lists]
    if not messages:
        return 0
    if isinstance(broker, RedisBroker):
        from jobs.pipelined import enqueue_pipelined

        enqueue_pipelined(broker, messages, also, atomic=False)
    elif also is not None:
        raise ValueError("also needs the Redis broker's pipeline")
    else:
        for message in messages:
            broker.enqueue(message)
    return len(messages)


def send_job(job: JobRun, message: Any = None) -> bool:
    """Send a job's message to Redis and record when; False when Redis is unreachable.

    A job waiting to retry is sent with what is left of its wait (``resume_at``).
    """
    message = message or build_message(job.actor, job.queue, job.args)
    if message.message_id != job.message_id:
        message = message.copy(message_id=job.message_id)
    delay_ms = None
    if job.resume_at is not None and job.resume_at > utcnow():
        delay_ms = math.ceil((job.resume_at - utcnow()).total_seconds() * 1000)
    try:
        send(message, delay_ms=delay_ms)
    except (redis.RedisError, OSError) as error:
        logger.warning("%r not sent, Redis is unreachable (sent when it is back): %s", job, error)
        return False
    now = utcnow()
    JobRun.update(sent_at=now).where(JobRun.id == job.id).execute()
    job.sent_at = now
    return True
