"""The gate: one rate limit and one 429 pause per Spotify host, shared by every process.

The tests use the real Redis, forked processes where sharing is the point, and the demo
Spotify for real 429s with a Retry-After.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from config.redis_ref import RedisRef
from config.settings import Settings
from spotify.client import SpotifyClient
from spotify.errors import RateLimited
from spotify.gate import SIGN_IN, SpotifyGate
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
    """What ``call`` did, as plain data a process can send back: elapsed time and error."""
    started = time.monotonic()
    try:
        call()
    except RateLimited as error:
        elapsed = time.monotonic() - started
        return {"elapsed": elapsed, "raised": True, "retry_after": error.retry_after}
    return {"elapsed": time.monotonic() - started, "raised": False}


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
    redis_url: str, settings: Settings, namespace: str, start: float, seconds: float
) -> list[float]:
    """In a process of its own: three threads take api slots from ``start`` for ``seconds``.

    Each slot is the moment the gate let the request go, not when its thread woke: on a
    busy machine threads wake late and together, and a burst of wake-ups is the
    scheduler's, not the gate's."""
    gate = SpotifyGate(RedisRef(redis.Redis.from_url(redis_url), namespace), settings)
    taken: list[float] = []

    def take() -> None:
        time.sleep(max(0.0, start - time.time()))
        while True:
            slot = gate.before_request("api")
            if slot >= start + seconds:
                return
            taken.append(slot)

    threads = [threading.Thread(target=take) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return taken


def test_two_processes_together_stay_under_the_configured_rate(
    redis_url: str, settings: Settings, namespace: str
) -> None:
    # Given a rate of 20/s, when two processes of three threads each ask for 2 seconds,
    start = time.time() + 0.5
    args = (redis_url, settings.but(spotify_api_rate=20.0), namespace, start, 2.0)
    answers = [forked(_take_slots, *args), forked(_take_slots, *args)]
    times = sorted(t for answer in answers for t in answer())
    # then together they get about 40 slots (2 % under the rate), not 40 each,
    assert 35 <= len(times) <= 41
    # and never a burst: no half second holds more than its share (10, and 1 for jitter).
    busiest = max(sum(1 for u in times if t <= u < t + 0.5) for t in times)
    assert busiest <= 11


def test_hosts_have_their_own_rate_and_pause(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    slow = settings.but(spotify_api_rate=0.5, spotify_pages_rate=0.5)
    gate = SpotifyGate(RedisRef(redis_client, namespace), slow)
    gate.before_request("api")  # the next api slot is 2 s away
    gate.pause("api", 60)
    outcome = timed(lambda: gate.before_request("open"))
    assert not outcome["raised"] and outcome["elapsed"] < 0.2
    assert gate.paused_until("open") is None


def test_a_slot_further_than_max_wait_is_refused_at_once(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    slow = settings.but(spotify_pages_rate=0.1)  # one page every 10.2 s
    gate = SpotifyGate(RedisRef(redis_client, namespace), slow, max_wait=5)
    gate.before_request("open")
    outcome = timed(lambda: gate.before_request("open"))
    assert outcome["raised"] and outcome["elapsed"] < 0.5
    assert 9.5 < outcome["retry_after"] <= 10.3


# --- pauses ------------------------------------------------------------------------------


def test_a_pause_longer_than_max_wait_raises_at_once_with_the_time_left(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    gate = SpotifyGate(RedisRef(redis_client, namespace), settings, max_wait=30)
    gate.pause("api", 60)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        gate.before_request("api")
    assert time.monotonic() - started < 0.5
    assert caught.value.host_kind == "api"
    assert 59 < caught.value.retry_after <= 60


def test_a_pause_within_max_wait_is_slept_through(gate: SpotifyGate) -> None:
    gate.pause("open", 1.0)
    outcome = timed(lambda: gate.before_request("open"))
    assert not outcome["raised"]
    assert 0.95 <= outcome["elapsed"] < 1.5


def test_a_pause_is_never_shortened_by_a_smaller_retry_after(gate: SpotifyGate) -> None:
    gate.pause("api", 60)
    gate.pause("api", 1)
    assert gate.paused_until("api") == pytest.approx(time.time() + 60, abs=1)
    # A longer one does lengthen it.
    gate.pause("open", 1)
    gate.pause("open", 60)
    assert gate.paused_until("open") == pytest.approx(time.time() + 60, abs=1)


def test_a_pause_that_starts_while_waiting_for_a_slot_is_honoured(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    gate = SpotifyGate(RedisRef(redis_client, namespace), settings.but(spotify_api_rate=1.0))
    gate.before_request("api")
    # Given a caller waiting ~1 s for the next slot,
    waiting: dict[str, Any] = {}
    caller = threading.Thread(
        target=lambda: waiting.update(timed(lambda: gate.before_request("api")))
    )
    caller.start()
    # when a 429 elsewhere pauses the host for longer than max_wait,
    time.sleep(0.3)
    gate.pause("api", 60)
    caller.join(5)
    # then the caller does not go ahead when its slot comes: it raises.
    assert waiting["raised"] and 0.9 < waiting["elapsed"] < 1.5


def test_stats_count_the_last_minute_and_the_429s(gate: SpotifyGate) -> None:
    for _ in range(3):
        gate.before_request("api")
    gate.pause("open", 30)
    stats = gate.stats()
    assert (stats["api"].requests_last_minute, stats["api"].rate_limited_total) == (3, 0)
    assert stats["api"].paused_until is None
    assert stats["open"].rate_limited_last_minute == stats["open"].rate_limited_total == 1
    assert stats["open"].paused_until == pytest.approx(time.time() + 30, abs=1)


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
    with pytest.raises(RateLimited) as caught:
        pages.monthly_listeners(artist_id)
    paused_until = gate.paused_until("open")
    assert paused_until == pytest.approx(time.time() + caught.value.retry_after, abs=1)
    assert gate.paused_until("api") is None


def _call_me(
    redis_url: str, settings: Settings, namespace: str, token: str, max_wait: float
) -> dict[str, Any]:
    """In a process of its own: one ``me()`` through a gate on the same Redis namespace."""
    gate = SpotifyGate(
        RedisRef(redis.Redis.from_url(redis_url), namespace), settings, max_wait=max_wait
    )
    return timed(SpotifyClient(settings, token, gate=gate).me)


def test_a_429_in_one_process_stops_the_next_call_of_another(
    demo_spotify: DemoSpotify, demo_settings: Settings, redis_url: str, namespace: str
) -> None:
    # Given a client that met a real 429 asking to wait ~30 s,
    demo_spotify.set_faults(rate_limit=1, rate_window_s=30)
    gate = SpotifyGate(RedisRef(redis.Redis.from_url(redis_url), namespace), demo_settings)
    token = demo_spotify.token_for("cleo")
    client = SpotifyClient(demo_settings, token, gate=gate)
    client.me()
    with pytest.raises(RateLimited):
        client.me()
    # when another process calls with a max_wait of 5 s,
    outcome = forked(_call_me, redis_url, demo_settings, namespace, token, 5.0)()
    # then it raises at once with the time left, and Spotify saw no further request.
    assert outcome["raised"] and outcome["elapsed"] < 0.5
    assert 25 <= outcome["retry_after"] <= 30
    assert served(demo_spotify, "api") == 2


def test_a_short_429_in_one_process_makes_another_wait_then_succeed(
    demo_spotify: DemoSpotify, demo_settings: Settings, redis_url: str, namespace: str
) -> None:
    demo_spotify.set_faults(rate_limit=1, rate_window_s=2)
    gate = SpotifyGate(RedisRef(redis.Redis.from_url(redis_url), namespace), demo_settings)
    token = demo_spotify.token_for("cleo")
    client = SpotifyClient(demo_settings, token, gate=gate)
    client.me()
    with pytest.raises(RateLimited) as caught:
        client.me()
    outcome = forked(_call_me, redis_url, demo_settings, namespace, token, 30.0)()
    assert not outcome["raised"]
    assert outcome["elapsed"] >= caught.value.retry_after - 0.5
    # The other process waited out the pause instead of earning a second 429.
    assert demo_spotify.stats()["rate_limited"] == 1
    assert served(demo_spotify, "api") == 3


class NoSleep:
    """A clock whose sleeps return at once: a caller takes its slot without waiting for it."""

    time = staticmethod(time.time)

    @staticmethod
    def sleep(seconds: float) -> None:
        pass


def test_a_flood_of_sign_ins_waits_in_its_own_lane_and_never_delays_the_syncs(
    redis_client: redis.Redis, settings: Settings, namespace: str
) -> None:
    ref = RedisRef(redis_client, namespace)
    slow_sign_ins = settings.but(spotify_sign_in_rate=1.0)
    flood = SpotifyGate(ref, slow_sign_ins, max_wait=5, clock=NoSleep())
    # Given sign-ins that have taken every slot of their lane for the next 5 s
    taken = 0
    with pytest.raises(RateLimited):
        while True:
            flood.before_request(SIGN_IN)
            taken += 1
    assert 5 <= taken <= 7

    # When a sync asks for Web API slots, it gets them at once, at the API's own rate
    sync = SpotifyGate(ref, slow_sign_ins)
    started = time.monotonic()
    slots = [sync.before_request("api") for _ in range(3)]
    assert time.monotonic() - started < 0.5
    assert slots[-1] - slots[0] < 0.5
    # ... and every sign-in call counted toward the day, beside the sync's
    assert sync.requests_today("api") == taken + 3


def test_sign_ins_obey_the_web_api_s_pause(gate: SpotifyGate) -> None:
    gate.pause("api", 60)
    with pytest.raises(RateLimited):
        gate.before_request(SIGN_IN)
