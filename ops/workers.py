"""The live worker processes, as each one reports itself in Redis.

Every Dramatiq worker process writes an entry (see ``actors.middleware.worker_registry``):
its host and pid, the queues it consumes, its threads, when it started, the messages it is
processing now and its last heartbeat. The entry expires ``WORKER_TTL`` seconds after the
last heartbeat, so a process that died without a word drops out on its own; one that
shuts down cleanly removes its entry at once. An index (a sorted set by heartbeat) lets a
reader list the entries without scanning the keyspace.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, cast

from config.redis_ref import RedisRef, text
from ops.clock import describe_offset

# Workers write their entry this often...
HEARTBEAT_INTERVAL = 5.0
# ...and an entry not refreshed for this long (three missed beats) belongs to a dead process.
WORKER_TTL = 15
# Index members older than this are pruned by the writers (the entries are long gone).
FORGET_AFTER = 3600


def entry_key(ref: RedisRef, worker_id: str) -> str:
    """The key of one worker's entry."""
    return ref.key("ops", "worker", worker_id)


def index_key(ref: RedisRef) -> str:
    """The sorted set of worker ids by last heartbeat (epoch seconds)."""
    return ref.key("ops", "workers")


@dataclass(frozen=True)
class CurrentJob:
    """A message a worker thread is processing now."""

    message_id: str
    actor: str
    queue: str
    started_at: dt.datetime


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process as it last reported itself."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    threads: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    broker_id: str
    processed: int = 0
    stopping: bool = False
    current: tuple[CurrentJob, ...] = field(default_factory=tuple)
    # Redis's clock minus this host's, in seconds (None until compared), and whether it is
    # so far off that the worker fetches nothing (ops/clock.py).
    clock_offset: float | None = None
    clock_held: bool = False

    @property
    def clock(self) -> str:
        """Its clock against Redis's, in words (with why it fetches nothing, if it does not)."""
        words = describe_offset(self.clock_offset)
        return f"{words}: fetching nothing" if self.clock_held else words

    @property
    def busy_threads(self) -> int:
        """How many of its threads are processing a message."""
        return len(self.current)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times as ISO 8601, UTC)."""
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "queues": list(self.queues),
            "threads": self.threads,
            "busy_threads": self.busy_threads,
            "processed": self.processed,
            "stopping": self.stopping,
            "clock_offset_s": self.clock_offset,
            "clock_held": self.clock_held,
            "started_at": self.started_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "current": [
                {
                    "message_id": job.message_id,
                    "actor": job.actor,
                    "queue": job.queue,
                    "started_at": job.started_at.isoformat(),
                }
                for job in self.current
            ],
        }


def write_worker(ref: RedisRef, info: WorkerInfo) -> None:
    """Write (or refresh) a worker's entry and its place in the index, in one round trip."""
    now = info.heartbeat_at.timestamp()
    # It expires WORKER_TTL after its heartbeat, which the worker stamps on Redis's clock
    # (ops/clock.py): so Redis alone says which entries are alive, whatever a reader's clock.
    expires_ms = int((now + WORKER_TTL) * 1000)
    with ref.client.pipeline(transaction=False) as pipe:
        pipe.set(entry_key(ref, info.id), json.dumps(_encode(info)), pxat=expires_ms)
        pipe.zadd(index_key(ref), {info.id: now})
        pipe.zremrangebyscore(index_key(ref), "-inf", now - FORGET_AFTER)
        pipe.execute()


def remove_worker(ref: RedisRef, worker_id: str) -> None:
    """Take a worker that shut down out of the list at once."""
    with ref.client.pipeline(transaction=False) as pipe:
        pipe.delete(entry_key(ref, worker_id))
        pipe.zrem(index_key(ref), worker_id)
        pipe.execute()


def live_workers(ref: RedisRef) -> list[WorkerInfo]:
    """The worker processes whose entry has not expired, by host and pid."""
    # Every id of the index (the writers prune it after an hour): whose entry is alive is
    # what Redis's own expiry says, never this host's clock, which may be off.
    # Members only (no scores): redis-py types the answer of every ZRANGE form as one union.
    ids = cast("list[bytes | str]", ref.client.zrange(index_key(ref), 0, -1))
    if not ids:
        return []
    raw = ref.client.mget([entry_key(ref, text(worker_id)) for worker_id in ids])
    workers = [_decode(json.loads(data)) for data in raw if data is not None]
    return sorted(workers, key=lambda w: (w.host, w.pid, w.id))


def _encode(info: WorkerInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "queues": list(info.queues),
        "threads": info.threads,
        "started_at": info.started_at.timestamp(),
        "heartbeat_at": info.heartbeat_at.timestamp(),
        "broker_id": info.broker_id,
        "processed": info.processed,
        "stopping": info.stopping,
        "clock_offset": info.clock_offset,
        "clock_held": info.clock_held,
        "current": [
            [job.message_id, job.actor, job.queue, job.started_at.timestamp()]
            for job in info.current
        ],
    }


def _decode(data: dict[str, Any]) -> WorkerInfo:
    return WorkerInfo(
        id=data["id"],
        host=data["host"],
        pid=int(data["pid"]),
        queues=tuple(data["queues"]),
        threads=int(data["threads"]),
        started_at=from_epoch(data["started_at"]),
        heartbeat_at=from_epoch(data["heartbeat_at"]),
        broker_id=data["broker_id"],
        processed=int(data.get("processed", 0)),
        stopping=bool(data.get("stopping", False)),
        current=tuple(
            CurrentJob(message_id, actor, queue, from_epoch(started))
            for message_id, actor, queue, started in data.get("current", [])
        ),
        clock_offset=data.get("clock_offset"),
        clock_held=bool(data.get("clock_held", False)),
    )


def from_epoch(seconds: float) -> dt.datetime:
    """An aware UTC datetime from epoch seconds."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
