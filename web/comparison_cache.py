"""Comparisons cached in Redis, keyed by both people's library stamps.

A comparison of two 15,000-artist libraries costs about a hundred milliseconds of SQL,
and a page polls it every two seconds. The result only changes when one of the two
libraries or its listener counts change, and the sync functions touch a person's stamp
after each such commit (``sync/library_stamps.py``), so an entry under the current stamps
is the answer the database would give.

While the stamps move (jobs landing), one request per comparison computes at a time; the
others get the latest computed result, which is at most one computation behind and is
followed by the next poll (or, the first time, wait up to two seconds for it). Entries
expire after a minute, which also bounds how long a stamp touch lost to a crash can hide
a change. Without Redis, every call computes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import redis

from config.redis_ref import RedisRef
from models import User
from models.comparison import Comparison, compare, comparison_from_dict
from sync.library_stamps import LibraryStamps

log = logging.getLogger(__name__)
ENTRY_TTL_SECONDS = 60
# The latest result outlives the entries, so that when an entry expires the requests that
# wait for its recomputation still have something to show.
LATEST_TTL_SECONDS = 600
COMPUTE_LOCK_MS = 10_000
# A request that finds another computing and no latest result waits this long for it.
WAIT_FOR_OTHER_S, WAIT_STEP_S = 2.0, 0.02


class ComparisonCache:
    """``compare`` with a cache in front of it."""

    def __init__(self, ref: RedisRef | None) -> None:
        self.ref = ref
        self.stamps = LibraryStamps(ref) if ref is not None else None

    def compare(
        self, me: User, friend: User, month: str, *, limit: int, offset: int, sort: str
    ) -> Comparison:
        """The comparison, from the cache when neither library changed since it was made."""

        def compute() -> Comparison:
            return compare(me, friend, month, limit=limit, offset=offset, sort=sort)

        if self.ref is None or self.stamps is None:
            return compute()
        client = self.ref.client
        params = f"{me.id}:{friend.id}:{month}:{sort}:{limit}:{offset}"
        latest_key = self.ref.key("comparison-latest", params)
        lock_key = self.ref.key("comparison-lock", params)
        try:
            mine, theirs = self.stamps.current([me.id, friend.id])
            key = self.ref.key("comparison", params, mine, theirs)
            if (cached := client.get(key)) is not None:
                return comparison_from_dict(json.loads(cached))
            # The lock is taken when another request is computing this comparison now.
            computing = not client.set(lock_key, "1", nx=True, px=COMPUTE_LOCK_MS)
            if computing:
                found = client.get(latest_key) or self._wait_for(client, key)
                if found is not None:
                    return comparison_from_dict(json.loads(found))
        except redis.RedisError as error:
            log.warning("comparison cache unavailable, computing: %s", error)
            return compute()
        result = compute()
        payload = json.dumps(dataclasses.asdict(result), separators=(",", ":"))
        try:
            pipe = client.pipeline(transaction=False)
            pipe.set(key, payload, ex=ENTRY_TTL_SECONDS)
            pipe.set(latest_key, payload, ex=LATEST_TTL_SECONDS)
            pipe.delete(lock_key)
            pipe.execute()
        except redis.RedisError as error:
            log.warning("could not cache a comparison: %s", error)
        return result

    def _wait_for(self, client: redis.Redis, key: str) -> bytes | None:
        """The entry another request is computing, once it lands (None: it did not)."""
        deadline = time.monotonic() + WAIT_FOR_OTHER_S
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP_S)
            if (found := client.get(key)) is not None:
                return found
        return None
