"""The gate: one rate limit and one 429 pause per Spotify host, shared by every process.

The tests use the real Redis, forked processes where sharing is the point, and the demo
Spotify for real 429s with a Retry-After.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from config.redis_ref import RedisRef
from config.settings import Settings
from ops.round_trips import RoundTrips
from spotify.client import SpotifyClient
from spotify.errors import RateLimited
from spotify.gate import HEADROOM, PAUSE_LOOK_AFTER, PAUSE_STEP, SIGN_IN, SpotifyGate
from spotify.listeners import ListenerPageClient
from spotify_demo.harness import DemoSpotify


def forked(target: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Start ``target(*args)`` in a forked process; call the result to wait for its answer."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)

    def run() -> None:
        try:
            sending.send(("returned", target(*args)))
        except BaseException:
            sending.send(("failed", traceback.format_exc()))

    process = context.Process(target=run, daemon=True)
    process.start()

    def answer() -> Any:
        assert receiving.poll(30), "the forked process gave no answer"
        outcome, value = receiving.recv()
        process.join(5)
        assert outcome == "returned", value
        return value

    return answer


def timed(call: Callable[[], Any]) -> dict[str, Any]:
    """What ``call`` did, as plain data a process can send back: elapsed time, when it
    ended (epoch seconds) and the error."""
    started = time.monotonic()
    try:
        call()
    except RateLimited as error:
        elapsed = time.monotonic() - started
        return {"elapsed": elapsed, "ended": time.time(), "raised": True,
                "retry_after": error.retry_after}  # fmt: skip
    return {"elapsed": time.monotonic() - started, "ended": time.time(), "raised": False}


class RecordingClock:
    """The real clock, with every sleep the gate asks for written down: what the gate chose
    to wait, which a loaded machine does not change (it only makes each sleep longer)."""

    time = staticmethod(time.time)

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(seconds)


class NoSleep(RecordingClock):
    """A clock whose sleeps return at once (and are written down): a caller takes its slot
    without waiting for it."""

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class HeldSleep(RecordingClock):
    """A clock whose first sleep lasts until the test lets it go: the test acts while the
    caller is known to be waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping, self.go = threading.Event(), threading.Event()

    def sleep(self, seconds: float) -> None:
        if not self.slept:
            self.slept.append(seconds)
            self.sleeping.set()
            assert self.go.wait(30), "the test never let the sleeper go"
            return
        super().sleep(seconds)


@pytest.fixture
def gate(redis_client: redis.Redis, settings: Settings, namespace: str) -> SpotifyGate:
    """A gate of the test's own, at the default rates."""
    return SpotifyGate(RedisRef(redis_client, namespace), settings)


@pytest.fixture
def demo_settings(demo_spotify: DemoSpotify, tmp_path: Path) -> Settings:
    """App settings pointing at the demo Spotify, with a var/ of the test's own."""
    return demo_spotify.settings(OVERLAP_VAR_DIR=str(tmp_path)).but(spotify_timeout=5.0)


def served(demo_spotify: DemoSpotify, host_kind: str) -> int:
    """How many requests of this host kind the demo has served since its last reset."""
    return demo_spotify.stats()["requests"][host_kind]


# --- the rate limit ----------------------------------------------------------------------


def _take_slots(
    redis_url: str, settings: Settings, namespace: str, start: float, each: int
) -> list[float]:
    """In a process of its own: three threads take ``each`` api slots each from ``start``.

    Each slot is the moment the gate let the request go, not when its thread woke: on a
    busy machine threads wake late and together, and a burst of wake-ups is the
    scheduler's, not the gate's."""
    gate = SpotifyGate(RedisRef(redis.Redis.from_url(redis_url), namespace), settings)
    taken: list[float] = []

    def take() -> None:
        time.sleep(max(0.0, start - time.time()))
        for _ in range(each):
            taken.append(gate.before_request("api"))

    threads = [threading.Thread(target=take) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return taken


def test_two_processes_together_stay_under_the_configured_rate(
    redis_url: str, settings: Settings, namespace: str
) -> None:
    # Given a rate of 20/s, when two processes of three threads each take 7 slots at once,
    start = time.time() + 0.5
    args = (redis_url, settings.but(spotify_api_rate=20.0), namespace, start, 7)
    first, second = forked(_take_slots, *args), forked(_take_slots, *args)
    mine, theirs = first(), second()
    times = sorted(mine + theirs)
    assert len(times) == 42 and mine and theirs
    # then together they are spaced as one caller at the rate (2 % under it), not each
    # process at the rate: no two slots closer than one interval, so never a burst;
    interval = 1 / (20.0 * (1 - HEADROOM))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= interval - 1e-5, gaps
    # and callers that queue are given the very next interval, no later. (A gap may be
    # longer when every thread was away, as on a loaded machine: the slot is then "now".)
    assert min(gaps) == pytest.approx(interval, abs=1e-3), gaps
    busiest = max(sum(1 for u in times if t <= u < t + 0.5) for t in times)
    assert busiest <= 11


def test_hosts_have_their_own_rate_and_pause(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    slow = settings.but(spotify_api_rate=0.5, spotify_pages_rate=0.5)
    clock = RecordingClock()
    gate = SpotifyGate(RedisRef(redis_client, namespace), slow, clock=clock)
    gate.before_request("api")  # the next api slot is 2 s away
    gate.pause("api", 60)
    outcome = timed(lambda: gate.before_request("open"))
    # The open host went at once: neither the api's slot nor its pause held it.
    assert not outcome["raised"] and clock.slept == []
    assert gate.paused_until("open") is None


def test_a_slot_further_than_max_wait_is_refused_at_once(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    slow = settings.but(spotify_pages_rate=0.1)  # one page every 10.2 s
    clock = RecordingClock()
    gate = SpotifyGate(RedisRef(redis_client, namespace), slow, max_wait=5, clock=clock)
    first = gate.before_request("open")
    outcome = timed(lambda: gate.before_request("open"))
    asked = time.time()
    # Refused without waiting, with the time left until the slot 10.2 s after the first.
    assert outcome["raised"] and clock.slept == []
    interval = 1 / (0.1 * (1 - HEADROOM))
    assert first + interval - asked - 0.01 <= outcome["retry_after"] <= interval


# --- pauses ------------------------------------------------------------------------------


def test_a_pause_longer_than_max_wait_raises_at_once_with_the_time_left(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    clock = RecordingClock()
    gate = SpotifyGate(RedisRef(redis_client, namespace), settings, max_wait=30, clock=clock)
    paused_at = time.time()
    gate.pause("api", 60)
    with pytest.raises(RateLimited) as caught:
        gate.before_request("api")
    assert clock.slept == []  # at once
    assert caught.value.host_kind == "api"
    assert 60 - (time.time() - paused_at) - 0.01 <= caught.value.retry_after <= 60


def test_a_pause_within_max_wait_is_slept_through(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    clock = RecordingClock()
    gate = SpotifyGate(RedisRef(redis_client, namespace), settings, clock=clock)
    gate.pause("open", 1.0)
    outcome = timed(lambda: gate.before_request("open"))
    assert not outcome["raised"]
    assert outcome["elapsed"] >= 0.95
    # In steps short enough to see a longer pause, and never past the pause's end: the
    # gate asked for at most the second the pause lasted (a loaded machine oversleeps).
    assert clock.slept and max(clock.slept) <= PAUSE_STEP
    assert sum(clock.slept) <= 1.0 + 1e-3


def test_a_pause_is_never_shortened_by_a_smaller_retry_after(gate: SpotifyGate) -> None:
    began = time.time()
    gate.pause("api", 60)
    gate.pause("api", 1)
    assert began + 59.9 <= (gate.paused_until("api") or 0) <= time.time() + 60.1
    # A longer one does lengthen it.
    gate.pause("open", 1)
    longer = time.time()
    gate.pause("open", 60)
    assert longer + 59.9 <= (gate.paused_until("open") or 0) <= time.time() + 60.1


def test_a_pause_that_starts_while_waiting_for_a_slot_is_honoured(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    ref = RedisRef(redis_client, namespace)
    slow = settings.but(spotify_api_rate=0.1)  # one request every 10.2 s
    SpotifyGate(ref, slow).before_request("api")
    # Given a caller waiting for the next slot (its sleep held until the test goes on),
    clock = HeldSleep()
    waiting: dict[str, Any] = {}
    caller = threading.Thread(
        target=lambda: waiting.update(
            timed(lambda: SpotifyGate(ref, slow, clock=clock).before_request("api"))
        )
    )
    caller.start()
    assert clock.sleeping.wait(30), "the caller never waited for its slot"
    # when a 429 elsewhere pauses the host for longer than max_wait while it waits,
    paused_at = time.time()
    SpotifyGate(ref, slow).pause("api", 60)
    clock.go.set()
    caller.join(30)
    # then the caller does not go ahead when its slot comes: it raises, with the pause's time.
    assert waiting["raised"], waiting
    assert 60 - (time.time() - paused_at) - 0.01 <= waiting["retry_after"] <= 60
    [slept] = clock.slept
    assert 0 < slept <= 1 / (0.1 * (1 - HEADROOM))
    # And the slot it gave up is not counted as a request, in the minute or in the day.
    stats = SpotifyGate(ref, slow).stats()["api"]
    assert (stats.requests_last_minute, stats.requests_today) == (1, 1)


@pytest.mark.parametrize(("rate", "looks"), [(20.0, 0), (1.0, 1)])
def test_only_a_wait_longer_than_pause_look_after_looks_again_for_a_pause(
    redis_client: redis.Redis, settings: Settings, namespace: str, rate: float, looks: int
) -> None:
    gate = SpotifyGate(RedisRef(redis_client, namespace), settings.but(spotify_api_rate=rate))
    gate.before_request("api")
    # The next slot is one interval away: 51 ms at 20 a second, 1.02 s at 1 (0.9 s of
    # margin for a loaded machine's stall between the two calls).
    with RoundTrips(kinds=frozenset({"_MainThread"})).counting() as trips:
        gate.before_request("api")
    assert (1 / (rate * (1 - HEADROOM)) > PAUSE_LOOK_AFTER) == bool(looks)
    assert trips.sites == Counter({"redis spotify.gate._reserve_slot": 1}) + Counter(
        {"redis spotify.gate._pause_left": looks}
    ), trips.sites


def test_stats_count_the_last_minute_and_the_429s(gate: SpotifyGate) -> None:
    for _ in range(3):
        gate.before_request("api")
    paused_at = time.time()
    gate.pause("open", 30)
    stats = gate.stats()
    assert (stats["api"].requests_last_minute, stats["api"].rate_limited_total) == (3, 0)
    assert stats["api"].paused_until is None
    assert stats["open"].rate_limited_last_minute == stats["open"].rate_limited_total == 1
    assert paused_at + 29.99 <= (stats["open"].paused_until or 0) <= time.time() + 30.01


# --- the clients behind the gate ---------------------------------------------------------


def test_the_clients_make_no_request_while_their_host_is_paused(
    demo_spotify: DemoSpotify,
    demo_settings: Settings,
    redis_client: redis.Redis,
    namespace: str,
) -> None:
    gate = SpotifyGate(RedisRef(redis_client, namespace), demo_settings, max_wait=5)
    gate.pause("api", 60)
    gate.pause("open", 60)
    client = SpotifyClient(demo_settings, demo_spotify.token_for("cleo"), gate=gate)
    with pytest.raises(RateLimited):
        client.me()
    with pytest.raises(RateLimited):
        ListenerPageClient(demo_settings, gate=gate).monthly_listeners("0" * 22)
    assert served(demo_spotify, "api") == served(demo_spotify, "open") == 0


def test_a_rate_limited_page_pauses_the_open_host(
    demo_spotify: DemoSpotify, demo_settings: Settings, gate: SpotifyGate
) -> None:
    demo_spotify.set_faults(pages_rate_limit=1, rate_window_s=20)
    pages = ListenerPageClient(demo_settings, gate=gate)
    artist_id = demo_spotify.catalog.artists[0].id
    pages.monthly_listeners(artist_id)
    asked = time.time()
    with pytest.raises(RateLimited) as caught:
        pages.monthly_listeners(artist_id)
    paused_until = gate.paused_until("open") or 0
    # The pause began when the 429 came, somewhere between the asking and now.
    left = caught.value.retry_after
    assert asked + left - 0.01 <= paused_until <= time.time() + left + 0.01
    assert gate.paused_until("api") is None


def _call_me(
    redis_url: str, settings: Settings, namespace: str, token: str, max_wait: float
) -> dict[str, Any]:
    """In a process of its own: one ``me()`` through a gate on the same Redis namespace."""
    clock = RecordingClock()
    gate = SpotifyGate(
        RedisRef(redis.Redis.from_url(redis_url), namespace), settings, max_wait=max_wait,
        clock=clock,
    )  # fmt: skip
    return {**timed(SpotifyClient(settings, token, gate=gate).me), "slept": clock.slept}


def test_a_429_in_one_process_stops_the_next_call_of_another(
    demo_spotify: DemoSpotify, demo_settings: Settings, redis_url: str, namespace: str
) -> None:
    # Given a client that met a real 429 asking to wait ~30 s,
    demo_spotify.set_faults(rate_limit=1, rate_window_s=30)
    gate = SpotifyGate(RedisRef(redis.Redis.from_url(redis_url), namespace), demo_settings)
    token = demo_spotify.token_for("cleo")
    client = SpotifyClient(demo_settings, token, gate=gate)
    client.me()
    limited_at = time.time()
    with pytest.raises(RateLimited):
        client.me()
    # when another process calls with a max_wait of 5 s,
    outcome = forked(_call_me, redis_url, demo_settings, namespace, token, 5.0)()
    # then it raises at once with the time left, and Spotify saw no further request.
    assert outcome["raised"] and outcome["slept"] == []
    assert 25 - (time.time() - limited_at) <= outcome["retry_after"] <= 30
    assert served(demo_spotify, "api") == 2


def test_a_short_429_in_one_process_makes_another_wait_then_succeed(
    demo_spotify: DemoSpotify, demo_settings: Settings, redis_url: str, namespace: str
) -> None:
    demo_spotify.set_faults(rate_limit=1, rate_window_s=2)
    gate = SpotifyGate(RedisRef(redis.Redis.from_url(redis_url), namespace), demo_settings)
    token = demo_spotify.token_for("cleo")
    client = SpotifyClient(demo_settings, token, gate=gate)
    client.me()
    limited_at = time.time()
    with pytest.raises(RateLimited) as caught:
        client.me()
    outcome = forked(_call_me, redis_url, demo_settings, namespace, token, 30.0)()
    # The other process went only once the pause had ended (however late it started).
    assert not outcome["raised"] and outcome["slept"]
    assert outcome["ended"] >= limited_at + caught.value.retry_after
    # The other process waited out the pause instead of earning a second 429.
    assert demo_spotify.stats()["rate_limited"] == 1
    assert served(demo_spotify, "api") == 3


def test_a_flood_of_sign_ins_waits_in_its_own_lane_and_never_delays_the_syncs(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    ref = RedisRef(redis_client, namespace)
    slow_sign_ins = settings.but(spotify_sign_in_rate=1.0)
    flood = SpotifyGate(ref, slow_sign_ins, max_wait=5, clock=NoSleep())
    # Given sign-ins that have taken every slot of their lane for the next 5 s (one a
    # second from the first: more the longer the asking took, as time moved on meanwhile)
    taken, began = 0, time.time()
    with pytest.raises(RateLimited):
        while True:
            flood.before_request(SIGN_IN)
            taken += 1
    interval = 1 / (1.0 * (1 - HEADROOM))
    assert 5 <= taken <= 6 + (time.time() - began) / interval

    # When a sync asks for Web API slots, it gets them at once, at the API's own rate:
    # it waits for no sign-in slot, only (at most) one API interval between its own.
    clock = RecordingClock()
    sync = SpotifyGate(ref, slow_sign_ins, clock=clock)
    for _ in range(3):
        sync.before_request("api")
    api_interval = 1 / (slow_sign_ins.spotify_api_rate * (1 - HEADROOM))
    assert all(0 < s <= api_interval for s in clock.slept), clock.slept
    # ... and every sign-in call counted toward the day, beside the sync's
    assert sync.requests_today("api") == taken + 3


def test_sign_ins_obey_the_web_api_s_pause(gate: SpotifyGate) -> None:
    gate.pause("api", 60)
    with pytest.raises(RateLimited):
        gate.before_request(SIGN_IN)
