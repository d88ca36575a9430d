"""The scheduler's lease: of several ``periodiq`` processes, one sends each tick, once.

periodiq has no lock of its own, so two scheduler processes (run for availability) would
send every periodic message twice. Each periodic actor is declared with
``actor_class=ScheduledActor`` (actors/scheduled_actor.py): its sends that carry periodiq's
``scheduled_at`` option go through a lease in Redis, and every other send (by hand, the
CLI, a retry) goes straight on:

- ``{namespace}:scheduler:lease`` holds the token (``host:pid#nonce``) of the scheduler
  allowed to send. It is taken with SET NX PX and extended by its holder every few seconds
  (a compare-and-extend script, in a thread of the scheduler process). A standby keeps
  asking, so it holds the lease within one lease period of the holder's death.
- Right before a send, one script checks the lease and claims the tick, once per actor and
  minute (``{namespace}:scheduler:tick:...``), so a takeover at a tick boundary cannot send
  a tick twice.
- A standby keeps the ticks it was refused for a while (less than the workers'
  ``PeriodiqMiddleware(skip_delay=60)``); if it takes the lease in that time and nobody
  sent them, it sends them, so a holder that dies just before a tick loses none.

``scheduler_status`` says who holds the lease and what was last sent, for the dashboard.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import socket
import uuid
from typing import Any

from config.redis_ref import RedisRef, text
from models.db import shared_millis, shared_time

# The holder extends its lease every RENEW_EVERY; one silent for LEASE_TTL is dead, and a
# standby takes over within LEASE_TTL + RENEW_EVERY.
LEASE_TTL = dt.timedelta(seconds=15)
RENEW_EVERY = dt.timedelta(seconds=5)
# How long a sent tick is remembered (a tick is at most a minute's).
TICK_MEMORY = dt.timedelta(hours=1)

# KEYS: lease, status. ARGV: token, ttl ms, now ms. 2: just taken, 1: extended, 0: not ours.
_KEEP = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('HSET', KEYS[2], 'holder', ARGV[1], 'since', ARGV[3])
  return 2
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease, status, tick. ARGV: token, ttl ms, now ms, tick ttl ms, scheduled at.
# 1: send it, 2: already sent, 0: another scheduler holds the lease.
_CLAIM = (
    "local function keep()"
    + _KEEP
    + """end
if keep() == 0 then return 0 end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[4]) then return 2 end
redis.call('HSET', KEYS[2], 'last_tick', ARGV[5], 'last_tick_by', ARGV[1], 'last_sent_at', ARGV[3])
return 1
"""
)

# KEYS: lease. ARGV: token. Deletes the lease only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_key(ref: RedisRef) -> str:
    """The key holding the token of the scheduler allowed to send."""
    return ref.key("scheduler", "lease")


def status_key(ref: RedisRef) -> str:
    """The hash of who took the lease when, and the last tick sent."""
    return ref.key("scheduler", "status")


def last_tick_key(ref: RedisRef) -> str:
    """The key where the minutely ``recover`` job writes when it last ran on a worker."""
    return ref.key("scheduler", "last_tick")


def tick_key(ref: RedisRef, actor_name: str, scheduled_at: dt.datetime) -> str:
    """The key that claims one actor's tick: cron's smallest step is the minute."""
    minute = utc(scheduled_at).strftime("%Y-%m-%dT%H:%MZ")
    return ref.key("scheduler", "tick", actor_name, minute)


class Claim(enum.Enum):
    """What the lease answers for one tick."""

    SEND = 1
    ALREADY_SENT = 2
    NOT_HOLDER = 0


class SchedulerLease:
    """One scheduler process's side of the lease in Redis."""

    def __init__(
        self,
        ref: RedisRef,
        *,
        ttl: dt.timedelta = LEASE_TTL,
        holder_id: str | None = None,
    ) -> None:
        self.ref = ref
        self.ttl_ms = int(ttl.total_seconds() * 1000)
        self.holder_id = holder_id or f"{socket.gethostname()}:{os.getpid()}"
        # The nonce tells this process from an earlier one with the same host and pid.
        self.token = f"{self.holder_id}#{uuid.uuid4().hex[:8]}"
        self._keep = ref.client.register_script(_KEEP)
        self._claim = ref.client.register_script(_CLAIM)
        self._release = ref.client.register_script(_RELEASE)

    def keep(self) -> bool:
        """Take the lease if it is free or extend it if it is ours; whether it is ours."""
        keys = [lease_key(self.ref), status_key(self.ref)]
        return int(self._keep(keys=keys, args=[self.token, self.ttl_ms, _now_ms()])) > 0

    def claim_tick(self, actor_name: str, scheduled_at: dt.datetime) -> Claim:
        """Whether this scheduler should send ``actor_name``'s tick of ``scheduled_at``."""
        keys = [
            lease_key(self.ref),
            status_key(self.ref),
            tick_key(self.ref, actor_name, scheduled_at),
        ]
        tick_ttl_ms = int(TICK_MEMORY.total_seconds() * 1000)
        args: list[str | int] = [
            self.token,
            self.ttl_ms,
            _now_ms(),
            tick_ttl_ms,
            utc(scheduled_at).isoformat(),
        ]
        return Claim(int(self._claim(keys=keys, args=args)))

    def release(self) -> bool:
        """Give the lease up if it is ours, so that a standby takes it at once."""
        return bool(self._release(keys=[lease_key(self.ref)], args=[self.token]))


def claim_tick_by_hand(ref: RedisRef, actor_name: str, at: dt.datetime, by: str) -> bool:
    """Claim ``actor_name``'s tick of the minute of ``at`` for a run asked by hand
    ("run now"); False when that minute's tick was sent or claimed already.

    It takes the key the scheduler's ``_CLAIM`` takes, so the scheduler then finds the
    tick sent and skips it: a run by hand never doubles a tick, and two never share one.
    """
    ttl_ms = int(TICK_MEMORY.total_seconds() * 1000)
    return bool(ref.client.set(tick_key(ref, actor_name, at), f"{by}#hand", nx=True, px=ttl_ms))


def scheduler_status(ref: RedisRef) -> dict[str, Any]:
    """Who holds the lease and since when, when it expires, and the last tick sent.

    ``holder`` and ``last_tick_by`` are ``host:pid``; ``holder`` is None when no scheduler
    holds the lease (none runs, or the holder died and no standby took over yet). Times are
    aware UTC datetimes, or None: ``last_tick`` is the scheduled time of the last tick sent,
    ``last_sent_at`` when it was sent, ``last_recovery_at`` when a worker last ran ``recover``.
    """
    with ref.client.pipeline(transaction=True) as pipe:
        pipe.get(lease_key(ref))
        pipe.pttl(lease_key(ref))
        pipe.hgetall(status_key(ref))
        pipe.get(last_tick_key(ref))
        raw_token, pttl, raw_fields, recovered = pipe.execute()
    token = text(raw_token)
    fields = {text(k): text(v) for k, v in raw_fields.items()}
    held = token is not None and pttl > 0
    last_tick = fields.get("last_tick")
    return {
        "holder": _holder(token) if held else None,
        "since": _from_ms(fields.get("since")) if held and fields.get("holder") == token else None,
        "lease_expires_at": (
            dt.datetime.fromtimestamp(shared_time() + pttl / 1000, dt.UTC) if held else None
        ),
        "last_tick": dt.datetime.fromisoformat(last_tick) if last_tick else None,
        "last_tick_by": _holder(fields.get("last_tick_by")),
        "last_sent_at": _from_ms(fields.get("last_sent_at")),
        "last_recovery_at": (
            dt.datetime.fromtimestamp(float(recovered), dt.UTC) if recovered else None
        ),
    }


def _holder(token: str | None) -> str | None:
    return token.split("#", 1)[0] if token else None


def _from_ms(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC) if value else None


def _now_ms() -> int:
    # Redis's clock, as this process measured it: the stamps are read on other hosts.
    return shared_millis()


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
