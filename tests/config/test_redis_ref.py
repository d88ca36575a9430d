"""The one Redis reference: keys under the namespace, one decode rule, and key names that
stay what the processes of the previous version read and write during a deploy."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import redis

from actors.scheduler_lease import last_tick_key, lease_key, status_key, tick_key
from config.redis_ref import RedisRef, text
from ops.counters import minute_key, totals_key
from ops.pause import paused_key
from ops.workers import entry_key, index_key
from spotify.gate import SpotifyGate
from sync.library_stamps import LibraryStamps
from web.state.guess_limit import GuessGuard

CLIENT = redis.Redis()  # never connects: nothing here talks to Redis


def test_a_key_is_the_namespace_and_its_parts_joined_by_colons():
    ref = RedisRef(CLIENT, "ns")

    assert ref.key("ops", "jobs", "minute", 29_000_000) == "ns:ops:jobs:minute:29000000"
    assert ref.key("bulk.DQ.msgs") == "ns:bulk.DQ.msgs"


def test_the_reference_comes_from_the_settings_or_from_a_broker(settings):
    from_settings = RedisRef.from_settings(settings.but(redis_namespace="from-env"), CLIENT)
    broker = SimpleNamespace(client=CLIENT, namespace="from-broker")

    assert (from_settings.client, from_settings.namespace) == (CLIENT, "from-env")
    assert RedisRef.of(broker) == RedisRef(CLIENT, "from-broker")


def test_text_reads_bytes_as_utf8_and_leaves_str_and_none_alone():
    assert text("é:1".encode()) == "é:1"
    assert text("already") == "already"
    assert text(None) is None


def test_the_app_s_key_names_stay_what_the_previous_version_uses(settings):
    ref = RedisRef(CLIENT, "ns")
    at = dt.datetime(2026, 5, 4, 12, 30, 59, tzinfo=dt.UTC)

    assert [
        paused_key(ref),
        entry_key(ref, "h:1:abc"),
        index_key(ref),
        minute_key(ref, 7),
        totals_key(ref),
        lease_key(ref),
        status_key(ref),
        last_tick_key(ref),
        tick_key(ref, "recover", at),
        SpotifyGate(ref, settings)._key("api", "requests", "17"),
        LibraryStamps(ref)._key(5),
        GuessGuard._key_and_limit(ref, 42, "10.0.0.1")[0],
        GuessGuard._key_and_limit(ref, None, "10.0.0.1")[0],
    ] == [
        "ns:ops:paused",
        "ns:ops:worker:h:1:abc",
        "ns:ops:workers",
        "ns:ops:jobs:minute:7",
        "ns:ops:jobs:total",
        "ns:scheduler:lease",
        "ns:scheduler:status",
        "ns:scheduler:last_tick",
        "ns:scheduler:tick:recover:2026-05-04T12:30Z",
        "ns:spotify-gate:api:requests:17",
        "ns:library-stamp:5",
        "ns:guesses:user:42",
        "ns:guesses:addr:10.0.0.1",
    ]
