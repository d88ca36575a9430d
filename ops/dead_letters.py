"""The dead letters: messages that failed for good, read, requeued and deleted.

Dramatiq's Redis broker (its ``dispatch.lua``) moves a message that failed its last try to
``<queue>.XQ``, a sorted set of broker ids scored by when they died (in milliseconds),
with the message itself in the hash ``<queue>.XQ.msgs``; it keeps them 7 days. A message
dead-lettered from the delay queue lands in its plain queue's ``XQ``. The stored message is
the one last enqueued, which does not hold the error of its last try: the worker's
``DeadLetterErrors`` middleware keeps that under ``dead:error:<broker id>`` (``save_error``).

Requeueing puts the message back at the end of its queue as a fresh try: no retries
spent, no traceback, no ``eta``, and no periodiq ``scheduled_at`` (a tick older than a
minute would be skipped by the workers). One script moves each message, so of two
operators requeueing the same message at once only one puts it back: the message runs
once. The dashboard and the CLI call these functions.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from config.redis_ref import RedisRef, text

PAGE = 50
# As long as the broker keeps a dead letter (its dead_message_ttl, 7 days), and a day more.
ERROR_TTL = dt.timedelta(days=8)
# Messages per round trip when a whole queue is requeued or read.
BATCH = 500
# The options a requeued message leaves behind (see the module's docstring).
DROPPED_OPTIONS = ("traceback", "eta", "scheduled_at", "requeue_timestamp", "retries")

# KEYS: dead set, dead hash, queue list, queue hash. ARGV: old id, new id, new data, ...
# Moves each message whose old id is still dead; returns how many moved.
_MOVE = """
local moved = 0
for i = 1, #ARGV, 3 do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i + 2])
    redis.call('RPUSH', KEYS[3], ARGV[i + 1])
    moved = moved + 1
  end
end
return moved
"""

# KEYS: dead set, dead hash. ARGV: ids. Returns how many were removed.
_DELETE = """
local removed = 0
for i = 1, #ARGV do
  removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return removed
"""


@dataclass(frozen=True)
class DeadLetter:
    """One dead message: its broker id, actor, arguments, last error, and when it died."""

    id: str
    queue: str
    actor: str
    args: list[Any]
    kwargs: dict[str, Any]
    message_id: str
    error: str
    traceback: str
    attempts: int
    died_at: dt.datetime
    enqueued_at: dt.datetime | None

    @property
    def arguments(self) -> str:
        """The arguments as the call would read, for a table cell."""
        return call_arguments(self.args, self.kwargs)


def call_arguments(args: list[Any], kwargs: dict[str, Any]) -> str:
    """A message's arguments as the call would read, for a table cell."""
    parts = [json.dumps(a) for a in args]
    parts += [f"{k}={json.dumps(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def dead_keys(ref: RedisRef, queue: str) -> tuple[str, str]:
    """The sorted set of ``queue``'s dead ids and the hash of their messages."""
    return ref.key(f"{queue}.XQ"), ref.key(f"{queue}.XQ.msgs")


def error_key(ref: RedisRef, dead_id: str) -> str:
    """Where the error of the last try of dead letter ``dead_id`` is kept."""
    return ref.key("dead", "error", dead_id)


def save_error(ref: RedisRef, dead_id: str, trace: str) -> None:
    """Keep the traceback of a message's last try beside its dead letter."""
    ref.client.set(error_key(ref, dead_id), trace[-20_000:], ex=ERROR_TTL)


def count_dead(ref: RedisRef, queue: str) -> int:
    """How many dead letters ``queue`` holds."""
    return int(ref.client.zcard(dead_keys(ref, queue)[0]))


def list_dead(ref: RedisRef, queue: str, *, limit: int = PAGE, skip: int = 0) -> list[DeadLetter]:
    """``queue``'s dead letters, newest first, from the ``skip``-th on.

    By place, not by time: many die in the same millisecond, so a time cursor would skip
    some. O(log n + skip) in Redis, which stays small for the 7 days the broker keeps.
    """
    ids_key, msgs_key = dead_keys(ref, queue)
    # redis-py types the answer of every ZRANGE form as one union; with scores it is pairs.
    pairs = cast(
        "list[tuple[bytes | str, float]]",
        ref.client.zrevrange(ids_key, skip, skip + limit - 1, withscores=True),
    )
    if not pairs:
        return []
    ids = [text(i) for i, _ in pairs]
    with ref.client.pipeline(transaction=False) as pipe:
        pipe.hmget(msgs_key, ids)
        pipe.mget([error_key(ref, i) for i in ids])
        data, errors = pipe.execute()
    return [
        _letter(queue, i, score, raw, error)
        for i, (_, score), raw, error in zip(ids, pairs, data, errors, strict=True)
        if raw is not None
    ]


def get_dead(ref: RedisRef, queue: str, dead_id: str) -> DeadLetter | None:
    """One dead letter by its broker id, or None."""
    ids_key, msgs_key = dead_keys(ref, queue)
    with ref.client.pipeline(transaction=True) as pipe:
        pipe.zscore(ids_key, dead_id)
        pipe.hget(msgs_key, dead_id)
        pipe.get(error_key(ref, dead_id))
        score, raw, error = pipe.execute()
    if score is None or raw is None:
        return None
    return _letter(queue, dead_id, score, raw, error)


def requeue_dead(ref: RedisRef, queue: str, ids: Iterable[str]) -> int:
    """Put these dead letters back on ``queue`` as fresh tries; how many went back."""
    ids = list(ids)
    _, msgs_key = dead_keys(ref, queue)
    moved = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        raws = ref.client.hmget(msgs_key, chunk)
        args: list[str] = []
        for dead_id, raw in zip(chunk, raws, strict=True):
            if raw is not None:
                new_id, data = _fresh(queue, raw)
                args += [dead_id, new_id, data]
        if args:
            script = ref.client.register_script(_MOVE)
            keys = [*dead_keys(ref, queue), ref.key(queue), ref.key(f"{queue}.msgs")]
            moved += int(script(keys=keys, args=args))
        _forget_errors(ref, chunk)
    return moved


def requeue_all_dead(ref: RedisRef, queue: str) -> int:
    """Put every dead letter of ``queue`` back, oldest first; how many went back."""
    moved = 0
    ids_key = dead_keys(ref, queue)[0]
    while True:
        oldest = cast("list[bytes | str]", ref.client.zrange(ids_key, 0, BATCH - 1))
        ids = [text(i) for i in oldest]
        if not ids:
            return moved
        went = requeue_dead(ref, queue, ids)
        if went == 0:
            # Ids whose message is gone from the hash cannot go back; drop them so that
            # the walk goes on (ids another operator moved meanwhile are gone already).
            delete_dead(ref, queue, ids)
        moved += went


def delete_dead(ref: RedisRef, queue: str, ids: Iterable[str]) -> int:
    """Remove these dead letters for good; how many there were."""
    ids = list(ids)
    if not ids:
        return 0
    script = ref.client.register_script(_DELETE)
    removed = int(script(keys=list(dead_keys(ref, queue)), args=ids))
    _forget_errors(ref, ids)
    return removed


def delete_all_dead(ref: RedisRef, queue: str) -> int:
    """Remove every dead letter of ``queue``; how many there were."""
    ids_key, msgs_key = dead_keys(ref, queue)
    with ref.client.pipeline(transaction=True) as pipe:
        pipe.zcard(ids_key)
        pipe.delete(ids_key, msgs_key)
        count, _ = pipe.execute()
    return int(count)


def _forget_errors(ref: RedisRef, ids: list[str]) -> None:
    # Those of a whole queue deleted at once expire by themselves (ERROR_TTL).
    if ids:
        ref.client.delete(*(error_key(ref, i) for i in ids))


def _fresh(queue: str, raw: bytes | str) -> tuple[str, str]:
    """A new broker id and the message as a first try on ``queue``."""
    message = json.loads(raw)
    options = {k: v for k, v in (message.get("options") or {}).items() if k not in DROPPED_OPTIONS}
    options["redis_message_id"] = new_id = str(uuid.uuid4())
    message.update(queue_name=queue, options=options)
    return new_id, json.dumps(message, separators=(",", ":"))


def _letter(
    queue: str, dead_id: str, score: float, raw: bytes | str, error: bytes | None = None
) -> DeadLetter:
    message = json.loads(raw)
    options = message.get("options") or {}
    # The last try's error if the worker kept it, else the one before (Retries' traceback).
    trace = (text(error) or options.get("traceback") or "").rstrip()
    lines = trace.splitlines()
    stamp = message.get("message_timestamp")
    return DeadLetter(
        id=dead_id,
        queue=queue,
        actor=str(message.get("actor_name", "?")),
        args=list(message.get("args") or []),
        kwargs=dict(message.get("kwargs") or {}),
        message_id=str(message.get("message_id", "")),
        error=lines[-1] if lines else "",
        traceback=trace,
        # Dramatiq's Retries counts each failed try, the last one included.
        attempts=max(int(options.get("retries", 0)), 1),
        died_at=from_ms(score),
        enqueued_at=from_ms(stamp) if stamp else None,
    )


def from_ms(ms: float) -> dt.datetime:
    """A naive UTC datetime, as the database's times are."""
    return dt.datetime.fromtimestamp(float(ms) / 1000, dt.UTC).replace(tzinfo=None)
