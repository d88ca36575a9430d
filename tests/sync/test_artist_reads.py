"""The read claim of an artist's page: a live reader keeps it however long its read takes,
and a dead reader's claim lapses within its short lifetime, so the artist is read again
seconds after a host dies instead of a minute."""

from __future__ import annotations

import threading
import time

from config.redis_ref import RedisRef
from sync.artist_reads import ArtistReads


def two_processes(app_settings, redis_client, namespace, **kwargs) -> tuple[ArtistReads, ...]:
    """The claims as two worker processes see them (each with its own renewing thread)."""
    ref = RedisRef.from_settings(app_settings.but(redis_namespace=namespace), redis_client)
    return ArtistReads(ref, **kwargs), ArtistReads(ref, **kwargs)


def test_a_read_longer_than_the_claims_lifetime_keeps_its_claim(
    app_settings, redis_client, namespace
):
    # Given a claim that lapses 0.4 s after its last renewal, held by a read of 2 s
    # (a wait at the gate, then a slow answer)...
    first, second = two_processes(app_settings, redis_client, namespace, claim_s=0.4, wait_s=30)
    events = []
    holding = threading.Event()

    def slow_read() -> None:
        with first.claim("artist-1") as waited:
            events.append(("first in", waited))
            holding.set()
            time.sleep(2.0)
            events.append(("first out", None))

    reader = threading.Thread(target=slow_read)
    reader.start()
    assert holding.wait(5)

    # ...another process asking for the same artist meanwhile waits for it to end.
    with second.claim("artist-1") as waited:
        events.append(("second in", waited))
    reader.join(5)
    assert events == [("first in", False), ("first out", None), ("second in", True)]
    # Once no claim is held, no renewing thread is left running.
    deadline = time.monotonic() + 5
    while any(t.name == "artist-read-claims" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a renewing thread outlived the claims"
        time.sleep(0.05)


def test_a_dead_readers_claim_lapses_within_its_lifetime(app_settings, redis_client, namespace):
    # Given a claim taken by a process that died right after (no thread renews it)...
    first, second = two_processes(app_settings, redis_client, namespace, claim_s=0.5, wait_s=30)
    key = first.ref.key("artist-read", "artist-2")
    assert redis_client.set(key, "a dead reader's token", nx=True, px=500)

    # ...another reader gets it once it lapses, far sooner than the 30 s it would wait
    # for a live one.
    started = time.monotonic()
    with second.claim("artist-2") as waited:
        took = time.monotonic() - started
    assert waited
    assert took < 5, took
    # and it let it go after its read.
    assert redis_client.get(key) is None
