"""The messages inside a queue: listed a page at a time, deleted one by one, or purged.

What the broker keeps (``ops.queues`` says it in full): ``<queue>`` lists the waiting
messages' broker ids, oldest first, with the messages in the hash ``<queue>.msgs``; the
delay queue ``<queue>.DQ`` and its hash ``<queue>.DQ.msgs`` hold the messages due later,
each with its ``eta`` (milliseconds). A worker fetches the delayed ones as soon as they
arrive and holds them in memory until they are due, so the delay queue's list is mostly
empty and its hash is where they are found.

Three kinds are shown, each its own list:

- **waiting**: on the queue's list, in the order workers will take them;
- **delayed**: in the delay queue on a first try (sent with a delay, or handed back by a
  worker: a paused queue, Spotify's pause, the daily budget), soonest due first;
- **retrying**: in the delay queue after a failed try, waiting out their backoff.

A message a worker has fetched from the waiting list is running (or about to): it is
neither listed nor deletable here; its job, if it has one, is cancelled from its page.
Deleting or purging takes the messages out of Redis in one script per batch, so a message
a worker fetches meanwhile is either taken by the worker or deleted, never both, and the
job rows of the messages taken out end as cancelled: a person's sync would otherwise look
queued forever, and no new one would be sent for them. A delayed message a worker already
holds in memory is taken out of Redis, but the worker still moves its copy to the waiting
list when it is due: so its id goes on a list of deleted ids, kept 8 days, and the
workers skip a message on it (``actors.middleware.deleted_messages``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, cast

from config.redis_ref import RedisRef, text
from models import JobRun
from models.db import shared_millis, shared_time
from ops.dead_letters import call_arguments, from_ms

PAGE = 50
KINDS = ("waiting", "delayed", "retrying")
# The delay queue is read whole to sort it by due time: at most this many of its messages
# (it holds what is due within minutes, a few hundred at most in practice).
DELAYED_READ_LIMIT = 10_000
# Messages taken off a queue per script call while purging.
PURGE_BATCH = 1_000
# How long a deleted delayed message's id is kept for the workers to skip: longer than the
# longest delay the broker accepts (7 days).
DELETED_TTL = 8 * 86400

# KEYS: a list, its hash. ARGV: how many at most. Takes that many ids off the head of the
# list and their messages out of the hash; returns the messages.
_TAKE_HEAD = """
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return {} end
redis.call('LTRIM', KEYS[1], #ids, -1)
local data = redis.call('HMGET', KEYS[2], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
local out = {}
for i = 1, #ids do if data[i] then out[#out + 1] = data[i] end end
return out
"""

# KEYS: the list, its hash. ARGV: a broker id. Takes the message off the waiting list;
# returns its data, or nil when it is not waiting (a worker took it, or it is delayed).
_TAKE_WAITING = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return false end
local data = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return data
"""

# KEYS: the delay queue's hash. ARGV: the kind (delayed or retrying), skip, limit, how many
# to read at most. Reads each message's eta and retries in Redis (decoding them all in
# Python took 100 us each): Dramatiq's compact JSON writes them as "eta":<ms> and
# "retries":<n>, and a quote inside a string is escaped, so only a key reads so. Counts
# each kind, and returns delayed, retrying, 1 when all were read, then the id and data of a
# page of the kind asked, soonest due first.
_DELAYED = """
local cursor, read, complete = '0', 0, 1
local counts, chosen = {delayed = 0, retrying = 0}, {}
repeat
  local reply = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 1000)
  cursor = reply[1]
  local pairs = reply[2]
  for i = 1, #pairs, 2 do
    if read >= tonumber(ARGV[4]) then complete = 0 break end
    read = read + 1
    local data = pairs[i + 1]
    local retries = tonumber(string.match(data, '"retries":(%d+)')) or 0
    local kind = retries > 0 and 'retrying' or 'delayed'
    counts[kind] = counts[kind] + 1
    if kind == ARGV[1] then
      chosen[#chosen + 1] = {tonumber(string.match(data, '"eta":(%d+)')) or 0, pairs[i], data}
    end
  end
until cursor == '0' or complete == 0
table.sort(chosen, function(a, b) return a[1] < b[1] end)
local out = {counts.delayed, counts.retrying, complete}
local first = tonumber(ARGV[2])
for i = first + 1, math.min(first + tonumber(ARGV[3]), #chosen) do
  out[#out + 1] = chosen[i][2]
  out[#out + 1] = chosen[i][3]
end
return out
"""

# KEYS: the delay list, its hash, the deleted ids, then each live worker's set of the
# delayed ids it holds. ARGV: the time the deleted ids are kept until (ms), then broker ids.
# Takes those still there out of the delay queue and out of the worker's set (so the queue
# counts as empty), and writes their message ids to the deleted ids, which the workers skip
# (actors.middleware.deleted_messages): a worker holding one puts its copy back when due.
_TAKE_DELAYED = """
local out = {}
for i = 2, #ARGV do
  local data = redis.call('HGET', KEYS[2], ARGV[i])
  if data then
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('LREM', KEYS[1], 1, ARGV[i])
    for k = 4, #KEYS do redis.call('SREM', KEYS[k], ARGV[i]) end
    local message_id = string.match(data, '"message_id":"([^"]+)"')
    if message_id then redis.call('ZADD', KEYS[3], ARGV[1], message_id) end
    out[#out + 1] = data
  end
end
return out
"""


@dataclass(frozen=True)
class QueuedMessage:
    """One message on a queue, as an operator reads it."""

    id: str  # the broker's id (``redis_message_id``), what the actions name
    queue: str
    kind: str
    actor: str
    args: list[Any]
    kwargs: dict[str, Any]
    message_id: str  # Dramatiq's id, what a job row names
    sent_at: dt.datetime | None
    retries: int
    runs_at: dt.datetime | None  # a delayed or retrying one: when it is due

    @property
    def arguments(self) -> str:
        """The arguments as the call would read, for a table cell."""
        return call_arguments(self.args, self.kwargs)


@dataclass(frozen=True)
class MessagePage:
    """A page of one kind of message: the messages, how many there are, where it starts."""

    kind: str
    messages: list[QueuedMessage]
    total: int
    skip: int
    # False when the delay queue held more than DELAYED_READ_LIMIT: sorted among those read.
    complete: bool = True

    @property
    def next_skip(self) -> int | None:
        """Where the next page starts, or None on the last page."""
        after = self.skip + len(self.messages)
        return after if after < self.total and self.messages else None


@dataclass(frozen=True)
class Removed:
    """What a delete or a purge took off a queue: messages, and job rows it cancelled."""

    messages: int
    cancelled_jobs: int


def queue_keys(ref: RedisRef, queue: str) -> list[str]:
    """The waiting list, its hash, the delay list and its hash of ``queue``."""
    return [
        ref.key(queue),
        ref.key(f"{queue}.msgs"),
        ref.key(f"{queue}.DQ"),
        ref.key(f"{queue}.DQ.msgs"),
    ]


def decode(queue: str, kind: str, raw: bytes | str) -> QueuedMessage:
    """A message as the broker stored it (Dramatiq's JSON), read for the operator."""
    message = json.loads(raw)
    options = message.get("options") or {}
    stamp, eta = message.get("message_timestamp"), options.get("eta")
    return QueuedMessage(
        id=str(options.get("redis_message_id", "")),
        queue=queue,
        kind=kind,
        actor=str(message.get("actor_name", "?")),
        args=list(message.get("args") or []),
        kwargs=dict(message.get("kwargs") or {}),
        message_id=str(message.get("message_id", "")),
        sent_at=from_ms(stamp) if stamp else None,
        retries=int(options.get("retries") or 0),
        runs_at=from_ms(eta) if eta else None,
    )


def read_queue(
    ref: RedisRef, queue: str, kind: str, skip: int = 0, limit: int = PAGE
) -> tuple[MessagePage, dict[str, int]]:
    """One page of ``queue``'s messages of ``kind`` (one of ``KINDS``), and how many
    messages of each kind it holds (two round trips)."""
    keys = queue_keys(ref, queue)
    waiting_page = kind == "waiting" and limit > 0
    with ref.client.pipeline(transaction=False) as pipe:
        pipe.llen(keys[0])
        if waiting_page:  # LRANGE 0 -1 would be the whole list
            pipe.lrange(keys[0], skip, skip + limit - 1)
        ref.client.register_script(_DELAYED)(
            keys=[keys[3]],
            args=[kind, skip, limit if not waiting_page else 0, DELAYED_READ_LIMIT],
            client=pipe,
        )
        waiting, *pages, (delayed, retrying, complete, *pairs) = pipe.execute()
    counts = {"waiting": int(waiting), "delayed": int(delayed), "retrying": int(retrying)}
    if waiting_page:
        raws = ref.client.hmget(keys[1], pages[0]) if pages[0] else []
        found = [decode(queue, kind, raw) for raw in raws if raw is not None]
        return MessagePage(kind, found, counts[kind], skip), counts
    found = [decode(queue, kind, raw) for raw in pairs[1::2]]
    return MessagePage(kind, found, counts[kind], skip, bool(complete)), counts


def count_removable(ref: RedisRef, queue: str) -> int:
    """How many messages a purge of ``queue`` would take: the waiting and the delayed."""
    keys = queue_keys(ref, queue)
    with ref.client.pipeline(transaction=False) as pipe:
        pipe.llen(keys[0])
        pipe.hlen(keys[3])
        waiting, delayed = pipe.execute()
    return int(waiting) + int(delayed)


def delete_message(ref: RedisRef, queue: str, broker_id: str) -> Removed | None:
    """Take one waiting or delayed message off ``queue`` and cancel its job row; None when
    it is no longer there (run, taken by a worker, or deleted already)."""
    keys = queue_keys(ref, queue)
    raw = ref.client.register_script(_TAKE_WAITING)(keys=keys[:2], args=[broker_id])
    raws = [raw] if raw else _take_delayed(ref, queue, [broker_id])
    if not raws:
        return None
    return Removed(1, _cancel_jobs(queue, raws))


def purge_queue(ref: RedisRef, queue: str) -> Removed:
    """Take every waiting and delayed message off ``queue``, and cancel their job rows.

    The waiting list is taken from its head in batches, no more than it held when the purge
    began, so messages sent meanwhile stay; each batch's job rows end as cancelled before
    the next is taken.
    """
    keys = queue_keys(ref, queue)
    removed = cancelled = 0
    left = int(ref.client.llen(keys[0]))
    take_head = ref.client.register_script(_TAKE_HEAD)
    while left > 0:
        raws = take_head(keys=keys[:2], args=[min(left, PURGE_BATCH)])
        if not raws:
            break
        left -= PURGE_BATCH
        removed, cancelled = removed + len(raws), cancelled + _cancel_jobs(queue, raws)
    ids = [text(i) for i in ref.client.hkeys(keys[3])]
    for start in range(0, len(ids), PURGE_BATCH):
        raws = _take_delayed(ref, queue, ids[start : start + PURGE_BATCH])
        removed, cancelled = removed + len(raws), cancelled + _cancel_jobs(queue, raws)
    return Removed(removed, cancelled)


def _take_delayed(ref: RedisRef, queue: str, ids: list[str]) -> list[bytes]:
    """Take these delayed messages out (see ``_TAKE_DELAYED``); their data."""
    workers = cast("list[bytes | str]", ref.client.zrange(ref.key("__heartbeats__"), 0, -1))
    held = [ref.key(f"__acks__.{text(w)}.{queue}.DQ") for w in workers]
    keys = [*queue_keys(ref, queue)[2:], deleted_key(ref), *held]
    keep_until = int((shared_time() + DELETED_TTL) * 1000)
    script = ref.client.register_script(_TAKE_DELAYED)
    return list(script(keys=keys, args=[keep_until, *ids]))


def deleted_key(ref: RedisRef) -> str:
    """The sorted set of the message ids deleted from a delay queue, by when they go."""
    return ref.key("ops", "deleted")


def deleted_ids(ref: RedisRef) -> frozenset[str]:
    """The ids of the delayed messages deleted lately, which the workers skip."""
    now_ms = shared_millis()
    with ref.client.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(deleted_key(ref), "-inf", now_ms)
        pipe.zrange(deleted_key(ref), 0, -1)
        _, ids = pipe.execute()
    return frozenset(text(i) for i in ids)


def _cancel_jobs(queue: str, raws: list[bytes]) -> int:
    """End the waiting job rows of these messages as cancelled; how many."""
    return JobRun.cancel_waiting([decode(queue, "waiting", raw).message_id for raw in raws])
