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
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from config.redis_ref import RedisRef

log = logging.getLogger(__name__)

# A claim lapses this long after its reader last renewed it, so a reader whose process
# died holds the others up for this long at most (a killed worker's artist, sent again,
# waits no longer than the sync's own takeover, issue 21 d). A live reader renews its
# claims every quarter of that from a thread of its own, however long it waits at the gate.
CLAIM_S = 10.0
# How long a reader waits on another's claim before reading anyway: the longest live read
# (the gate's longest wait, 30 s, then the request's connect and read timeouts, 10 s each,
# then storing what it read), so a live reader is never read over.
WAIT_S = 60.0
# How often a waiting reader looks whether the claim is gone (a read takes ~0.1-1 s).
POLL_S = 0.05

# KEYS: the claim. ARGV: the holder's token. Lets the claim go if it is still ours (it may
# have lapsed and been taken by another reader meanwhile).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: the claims held. ARGV: their tokens, then the lifetime in ms. Extends each that is
# still ours; one that lapsed (Redis unreachable for longer than CLAIM_S) is not taken back.
_RENEW = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then redis.call('PEXPIRE', key, ARGV[#ARGV]) end
end
return 0
"""


class ArtistReads:
    """The read claims of artist pages, in one Redis under the app's key namespace."""

    def __init__(self, ref: RedisRef, claim_s: float = CLAIM_S, wait_s: float = WAIT_S) -> None:
        self.ref = ref
        self.claim_s = claim_s
        self.wait_s = wait_s
        self._release = ref.client.register_script(_RELEASE)
        self._renew = ref.client.register_script(_RENEW)
        self._held: dict[str, str] = {}  # this process's claims: key -> token
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    @contextmanager
    def claim(self, spotify_id: str) -> Iterator[bool]:
        """Hold the artist's read claim for the block, waiting for another reader's to go
        first (at most ``wait_s``); yields whether there was one, after which the caller
        should check again whether the artist is still outdated."""
        key = self.ref.key("artist-read", spotify_id)
        token = uuid.uuid4().hex
        give_up_at = time.monotonic() + self.wait_s
        waited = False
        while not self.ref.client.set(key, token, nx=True, px=round(self.claim_s * 1000)):
            waited = True
            if time.monotonic() >= give_up_at:
                break  # reader after reader for that long: read rather than wait on
            time.sleep(POLL_S)
        self._hold(key, token)
        try:
            yield waited
        finally:
            with self._lock:
                self._held.pop(key, None)
            try:
                self._release(keys=[key], args=[token])
            except redis.RedisError as error:
                # The claim lapses by itself; the read it guarded is done and stored.
                log.warning("could not let go of the read claim of %s: %s", spotify_id, error)

    def _hold(self, key: str, token: str) -> None:
        """Keep the claim alive while the block runs: the renewing thread runs while the
        process holds a claim, and ends once it holds none."""
        with self._lock:
            self._held[key] = token
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._keep_renewing, name="artist-read-claims", daemon=True
                )
                self._renewer.start()

    def _keep_renewing(self) -> None:
        while True:
            time.sleep(self.claim_s / 4)
            with self._lock:
                held = dict(self._held)
                if not held:  # decided under the lock: the next claim starts a new one
                    self._renewer = None
                    return
            try:  # one round trip for every claim the process holds
                self._renew(keys=list(held), args=[*held.values(), round(self.claim_s * 1000)])
            except redis.RedisError as error:
                log.warning("could not renew %d artist read claims: %s", len(held), error)
