"""Periodic actors send periodiq's ticks through the scheduler lease: of two real scheduler
processes one sends each tick, once, and when it dies the other sends the next ones."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pendulum
import periodiq
import pytest
import redis

from actors.scheduled_actor import ScheduledActor, TickSender, stop_tick_senders
from actors.scheduler_lease import LEASE_TTL, RENEW_EVERY, SchedulerLease, scheduler_status
from actors.testing import enqueued, wait_for
from config.redis_ref import RedisRef

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _stop_tick_senders() -> Iterator[None]:
    yield
    stop_tick_senders()


def periodic_ticks(broker) -> Counter[tuple[str, dt.datetime]]:
    """How many messages wait on the periodic queue per actor and scheduled minute."""
    return Counter(
        (
            m.actor_name,
            dt.datetime.fromisoformat(m.options["scheduled_at"]).replace(second=0),
        )
        for m in enqueued(broker, "periodic")
    )


def recover_minutes(broker) -> list[dt.datetime]:
    """The minutes of the ``recover`` ticks waiting, oldest first."""
    return sorted(minute for actor, minute in periodic_ticks(broker) if actor == "recover")


def other_scheduler(broker, name: str, ttl_ms: int = 15_000) -> SchedulerLease:
    """The lease of another scheduler process, with a connection of its own."""
    client = redis.Redis(connection_pool=broker.client.connection_pool)
    return SchedulerLease(
        RedisRef(client, broker.namespace), ttl=dt.timedelta(milliseconds=ttl_ms), holder_id=name
    )


def this_minute() -> pendulum.DateTime:
    return pendulum.now("UTC").replace(second=0, microsecond=0)


def just_now() -> pendulum.DateTime:
    """A tick time a standby may still send (the catch-up window counts from it)."""
    return pendulum.now("UTC").replace(microsecond=0)


def test_every_periodic_actor_sends_its_ticks_through_the_lease(broker):
    periodic = [a for a in broker.actors.values() if "periodic" in a.options]

    assert {a.actor_name for a in periodic} >= {"recover", "refresh_listeners"}
    assert all(isinstance(actor, ScheduledActor) for actor in periodic)


def test_a_tick_periodiq_sends_twice_reaches_the_queue_once(broker):
    from actors.periodic import recover

    scheduler = periodiq.Scheduler(actors=[recover])
    now = this_minute()

    scheduler.send_actors([recover], now=now)
    scheduler.send_actors([recover], now=now.add(seconds=30))  # a late wake-up, same minute
    scheduler.send_actors([recover], now=now.add(minutes=1))

    assert periodic_ticks(broker) == {
        ("recover", now): 1,
        ("recover", now.add(minutes=1)): 1,
    }


def test_while_another_scheduler_holds_the_lease_only_sends_by_hand_go_out(broker):
    from actors.periodic import recover

    assert other_scheduler(broker, "elsewhere:7").keep()

    periodiq.Scheduler(actors=[recover]).send_actors([recover], now=this_minute())
    assert enqueued(broker, "periodic") == []

    recover.send()  # by hand: no scheduled_at, no lease
    [message] = enqueued(broker, "periodic")
    assert "scheduled_at" not in message.options


def test_a_standby_that_takes_over_in_time_sends_the_tick_it_held_back(broker):
    from actors.periodic import recover

    holder = other_scheduler(broker, "dying:1", ttl_ms=500)
    assert holder.keep()  # and then it dies: nobody renews its lease
    standby = TickSender(
        other_scheduler(broker, "standby:2"), renew_every=dt.timedelta(seconds=0.1)
    )
    standby.start()
    at = just_now()
    message = recover.message_with_options(scheduled_at=str(at))
    try:
        assert standby.send("recover", at, lambda: broker.enqueue(message)) is None
        wait_for(lambda: enqueued(broker, "periodic"), timeout=5, what="the held-back tick")
    finally:
        standby.stop()

    assert periodic_ticks(broker) == {("recover", at.replace(second=0)): 1}
    assert scheduler_status(RedisRef.of(broker))["last_tick_by"] == "standby:2"


def test_a_standby_never_sends_again_a_tick_the_holder_sent(broker):
    holder = other_scheduler(broker, "dying:1", ttl_ms=500)
    at = just_now()
    sent: list[str] = []
    assert holder.claim_tick("recover", at).name == "SEND"  # the holder sent it, then died
    standby = TickSender(
        other_scheduler(broker, "standby:2"), renew_every=dt.timedelta(seconds=0.1)
    )
    standby.start()
    try:
        standby.send("recover", at, lambda: sent.append("standby"))
        wait_for(lambda: standby.holding, timeout=5, what="the standby to take over")
        time.sleep(0.3)  # a round of catching up after taking over
    finally:
        standby.stop()

    assert sent == []


def test_a_held_back_tick_too_old_for_the_workers_is_dropped(broker):
    holder = other_scheduler(broker, "dying:1", ttl_ms=500)
    assert holder.keep()
    sent: list[str] = []
    standby = TickSender(
        other_scheduler(broker, "standby:2"),
        renew_every=dt.timedelta(seconds=0.1),
        catch_up=dt.timedelta(seconds=0.2),
    )
    standby.start()
    try:
        standby.send("recover", just_now(), lambda: sent.append("late"))
        wait_for(lambda: standby.holding, timeout=5, what="the standby to take over")
        time.sleep(0.3)
    finally:
        standby.stop()

    assert sent == []


class Skew:
    """Whether a scheduler's clock is too far from Redis's, as its clock watch says."""

    def __init__(self, skewed: bool = False) -> None:
        self.skewed = skewed

    def __call__(self) -> bool:
        return self.skewed


def test_a_scheduler_whose_clock_is_off_sends_no_tick_and_takes_no_lease(broker):
    skewed = TickSender(other_scheduler(broker, "ahead:1"), clock_skewed=Skew(True))
    sent: list[str] = []
    at = this_minute()

    assert skewed.send("recover", at, lambda: sent.append("ahead")) is None

    assert sent == [] and not skewed.holding
    # It claimed nothing: a scheduler whose clock is right sends that tick, and holds the lease.
    right = other_scheduler(broker, "right:2")
    assert right.claim_tick("recover", at).name == "SEND"


def test_a_holder_whose_clock_goes_off_hands_over_and_the_tick_is_sent_once(broker):
    # Given a holder whose clock is right, and a standby refused a tick while it holds...
    skew = Skew()
    holder = TickSender(other_scheduler(broker, "holder:1"), clock_skewed=skew)
    at = just_now()
    holder.send("recover", at.subtract(minutes=1), lambda: None)  # sent: it holds the lease
    assert holder.holding
    standby = TickSender(
        other_scheduler(broker, "standby:2"), renew_every=dt.timedelta(seconds=0.1)
    )
    sent: list[str] = []
    standby.start()
    try:
        assert standby.send("recover", at, lambda: sent.append("standby")) is None
        # ...when the holder's clock goes 120 s off: it sends nothing and lets go at once...
        skew.skewed = True
        assert holder.send("recover", at, lambda: sent.append("holder")) is None
        assert not holder.holding
        # ...and the standby takes over and sends the tick it was refused: once, not lost.
        wait_for(lambda: sent, timeout=5, what="the standby to send the held-back tick")
        time.sleep(0.3)  # room for a second send, had there been one
        assert scheduler_status(RedisRef.of(broker))["holder"] == "standby:2"
    finally:
        standby.stop()

    assert sent == ["standby"]


def start_scheduler(
    env: dict[str, str], log: Path, wrapper: Sequence[str] = ()
) -> subprocess.Popen:
    """A real scheduler, as the Procfile runs it: ``env TZ=UTC overlap scheduler`` (within
    ``wrapper``, e.g. ``faketime``)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            ["env", "TZ=UTC", *wrapper, str(BIN / "overlap"), "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def assert_each_tick_sent_once(broker) -> None:
    ticks = periodic_ticks(broker)
    assert ticks and set(ticks.values()) == {1}, sorted(ticks.items())


def test_two_scheduler_processes_send_each_tick_once_and_the_standby_takes_over(
    broker, base_env, tmp_path
):
    env = {**os.environ, **base_env, "REDIS_NAMESPACE": broker.namespace}
    schedulers = [start_scheduler(env, tmp_path / f"scheduler-{n}.log") for n in (1, 2)]
    status = lambda: scheduler_status(RedisRef.of(broker))  # noqa: E731
    try:
        # Both send their start-up tick, then both wake at the next minute: one message each.
        wait_for(lambda: status()["holder"], timeout=60, what="a scheduler to take the lease")
        first = wait_for(lambda: recover_minutes(broker), timeout=60, what="the start-up tick")
        wait_for(
            lambda: recover_minutes(broker)[-1] > first[-1],
            timeout=75,
            what="the next minute's tick",
        )
        time.sleep(3)  # room for a second message of that minute, had one been sent
        assert all(s.poll() is None for s in schedulers), "a scheduler died"
        for n in (1, 2):
            assert "Scheduling" in (tmp_path / f"scheduler-{n}.log").read_text()
        assert_each_tick_sent_once(broker)

        # The holder is killed; the standby takes the lease and sends the next tick.
        holder_id = status()["holder"]
        [holder] = [s for s in schedulers if holder_id.endswith(f":{s.pid}")]
        [standby] = [s for s in schedulers if s is not holder]
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        killed_at = time.monotonic()
        last_before = recover_minutes(broker)[-1]
        wait_for(
            lambda: (status()["holder"] or "").endswith(f":{standby.pid}"),
            timeout=40,
            what="the standby to take the lease",
        )
        took_over_after = time.monotonic() - killed_at
        wait_for(
            lambda: recover_minutes(broker)[-1] > last_before,
            timeout=90,
            what="a tick from the standby",
        )
        time.sleep(1)
    finally:
        for scheduler in schedulers:
            if scheduler.poll() is None:
                os.killpg(scheduler.pid, signal.SIGTERM)
                scheduler.wait(10)

    assert_each_tick_sent_once(broker)
    assert status()["last_tick_by"].endswith(f":{standby.pid}")
    bound = (LEASE_TTL + RENEW_EVERY).total_seconds()
    assert took_over_after < bound + 5, f"took over after {took_over_after:.1f} s"
    print(f"the standby took over {took_over_after:.1f} s after the holder was killed")
