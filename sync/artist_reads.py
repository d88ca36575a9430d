"""One reader of an artist's page at a time, across every worker process.

An artist is asked for by several messages: ``update_artist`` from each sync that meets
it, ``update_shared_artist`` from an open comparison that waits for it, the monthly
refresh. Each checks first whether the artist is up to date, which costs no request; but
two of them running at the same moment both find it outdated, and both read its page:
one request of Spotify's budget spent for nothing. So a reader claims the artist in Redis
before it reads; another one waits until the claim is let go, then checks again and reads
only if the first reader failed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from config.redis_ref import RedisRef

log = logging.getLogger(__name__)

# A claim lapses after this, so that a reader whose process died holds nobody up for good.
# A live read is shorter: the gate's longest wait (30 s) and the request's timeout.
CLAIM_S = 60.0
# How often a waiting reader looks whether the claim is gone (a read takes ~0.1-1 s).
POLL_S = 0.05

# KEYS: the claim. ARGV: the holder's token. Lets the claim go if it is still ours (it may
# have lapsed and been taken by another reader meanwhile).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ArtistReads:
    """The read claims of artist pages, in one Redis under the app's key namespace."""

    def __init__(self, ref: RedisRef, claim_s: float = CLAIM_S) -> None:
        self.ref = ref
        self.claim_s = claim_s
        self._release = ref.client.register_script(_RELEASE)

    @contextmanager
    def claim(self, spotify_id: str) -> Iterator[bool]:
        """Hold the artist's read claim for the block, waiting for another reader's to go
        first (at most ``claim_s``); yields whether there was one, after which the caller
        should check again whether the artist is still outdated."""
        key = self.ref.key("artist-read", spotify_id)
        token = uuid.uuid4().hex
        give_up_at = time.monotonic() + self.claim_s
        waited = False
        while not self.ref.client.set(key, token, nx=True, px=round(self.claim_s * 1000)):
            waited = True
            if time.monotonic() >= give_up_at:
                break  # reader after reader for that long: read rather than wait on
            time.sleep(POLL_S)
        try:
            yield waited
        finally:
            try:
                self._release(keys=[key], args=[token])
            except redis.RedisError as error:
                # The claim lapses by itself; the read it guarded is done and stored.
                log.warning("could not let go of the read claim of %s: %s", spotify_id, error)
