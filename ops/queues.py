"""How many messages each queue holds, read from the Redis broker's own keys.

Dramatiq's ``RedisBroker`` (see its ``dispatch.lua``) keeps, under its namespace:

- ``<queue>``: a list of the ids of the messages waiting, oldest first, and
  ``<queue>.msgs`` a hash of id -> message (the waiting ones and those fetched by a worker);
- ``<queue>.DQ`` and ``<queue>.DQ.msgs``: the same for the delay queue (retries with
  backoff, deferred messages); a worker holds the due-later ones in memory, still in the hash;
- ``<queue>.XQ``: a sorted set of the dead-lettered (failed for good) ids, kept 7 days;
- ``__acks__.<broker id>.<queue>``: a set per worker process of the ids it fetched and has
  not acknowledged yet (processing, or prefetched and about to be);
- ``__heartbeats__``: a sorted set of the broker ids of every process by last call.

The ids in those lists are the broker's own (``redis_message_id``), not Dramatiq's message
id, so finding one message's place means reading the messages: ``position_in_queue`` does
it inside Redis in one script.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

from config.redis_ref import RedisRef, text
from jobs.queueing import QUEUES
from models import JobRun
from models.db import shared_time
from models.job_run import QUEUED
from ops.jobs import running_jobs_by_queue
from ops.pause import paused_queues
from ops.workers import WorkerInfo, live_workers


@dataclass(frozen=True)
class QueueStats:
    """One queue's messages by state.

    ``running`` counts the messages fetched by workers and not yet acknowledged (being
    processed, or prefetched in a worker's memory; a dead worker's until the broker gives
    them back). ``processing`` counts those the live workers report processing right now,
    and ``tracked_running`` the ``job_runs`` rows of this queue that say running.
    """

    queue: str
    waiting: int
    delayed: int
    failed: int
    running: int
    processing: int
    tracked_running: int
    paused: bool
    # How long the message at the head of the waiting list has waited since it was sent
    # (seconds), or None when nothing waits.
    oldest_age: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


def queue_stats(
    ref: RedisRef,
    queues: Sequence[str] = QUEUES,
    workers: Iterable[WorkerInfo] | None = None,
) -> list[QueueStats]:
    """Each queue's stats, in the order of ``queues`` (two Redis round trips, one query).

    ``workers`` are the live workers if the caller has them already.
    """
    client = ref.client
    head = client.register_script(_HEAD)
    # Members only (no scores): redis-py types the answer of every ZRANGE form as one union.
    heartbeats = cast("list[bytes | str]", client.zrange(ref.key("__heartbeats__"), 0, -1))
    broker_ids = [text(b) for b in heartbeats]
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(ref.key(queue))
            pipe.hlen(ref.key(f"{queue}.DQ.msgs"))
            pipe.zcard(ref.key(f"{queue}.XQ"))
            head(keys=[ref.key(queue), ref.key(f"{queue}.msgs")], client=pipe)
            for broker_id in broker_ids:
                pipe.scard(ref.key(f"__acks__.{broker_id}.{queue}"))
        replies = iter(pipe.execute())
    now = shared_time()
    paused = paused_queues(ref)
    workers = live_workers(ref) if workers is None else list(workers)
    processing: dict[str, int] = {}
    for worker in workers:
        for job in worker.current:
            processing[job.queue] = processing.get(job.queue, 0) + 1
    tracked = running_jobs_by_queue()
    out = []
    for queue in queues:
        waiting, delayed, failed = next(replies), next(replies), next(replies)
        oldest = _age(next(replies), now)
        held = sum(next(replies) for _ in broker_ids)
        out.append(
            QueueStats(
                queue=queue,
                waiting=waiting,
                delayed=delayed,
                failed=failed,
                running=held,
                processing=processing.get(queue, 0),
                tracked_running=tracked.get(queue, 0),
                paused=queue in paused,
                oldest_age=oldest,
            )
        )
    return out


# KEYS: the queue's list, its messages hash. The message at the head of the list, or nil.
_HEAD = """
local id = redis.call('LINDEX', KEYS[1], 0)
if not id then return false end
return redis.call('HGET', KEYS[2], id)
"""


def _age(raw: bytes | None, now: float) -> float | None:
    """Seconds since a stored message was sent (its ``message_timestamp``), or None."""
    if not raw:
        return None
    stamp = json.loads(raw).get("message_timestamp")
    return max(0.0, now - stamp / 1000) if stamp else None


# KEYS: the queue's list, its messages hash. ARGV: the text to find, the chunk size.
# Walks the list in chunks, oldest first, and returns the index of the first message whose
# data holds the text, or -1. Plain find (no pattern), no decoding.
_POSITION = """
local length = redis.call('LLEN', KEYS[1])
local chunk = tonumber(ARGV[2])
for first = 0, length - 1, chunk do
  local ids = redis.call('LRANGE', KEYS[1], first, first + chunk - 1)
  if #ids == 0 then break end
  local data = redis.call('HMGET', KEYS[2], unpack(ids))
  for i = 1, #ids do
    if data[i] and string.find(data[i], ARGV[1], 1, true) then return first + i - 1 end
  end
end
return -1
"""
_POSITION_CHUNK = 500


def position_in_queue(ref: RedisRef, queue: str, message_id: str) -> int | None:
    """How many messages wait ahead of ``message_id`` on ``queue`` (0: it is next), or None
    when it is not waiting there (running, delayed, finished, or unknown).

    O(queue length) inside Redis: meant for one job's page, not for every message.
    """
    # Dramatiq's JSON encoder writes compact JSON, so this is how the id appears.
    needle = f'"message_id":"{message_id}"'
    script = ref.client.register_script(_POSITION)
    keys = [ref.key(queue), ref.key(f"{queue}.msgs")]
    found = script(keys=keys, args=[needle, _POSITION_CHUNK])
    return None if found < 0 else int(found)


def job_position(ref: RedisRef, job: JobRun) -> int | None:
    """A queued job's place in its queue (see ``position_in_queue``); None for any other."""
    if job.status != QUEUED:
        return None
    return position_in_queue(ref, job.queue, job.message_id)
