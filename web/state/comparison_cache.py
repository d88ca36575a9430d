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

What a client chooses is bounded before it reaches the key: the limit is clamped as
``compare`` clamps it, an offset past the end of the shared list is refused without
computing (``PastTheEnd``: the shared artists are at most the smaller library), and each
person may make ``MAX_COMPUTES_PER_MINUTE`` uncached computations a minute; past that the
latest result is shown, or ``TooManyComputes``. Every new offset used to add an entry and
a computation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from config.redis_ref import RedisRef
from models import User
from models.comparison import MAX_LIMIT, Comparison, compare, comparison_from_dict
from models.group_comparison import MAX_LIMIT as GROUP_MAX_LIMIT
from models.group_comparison import GroupReport, group_report, group_report_from_dict
from sync.library_stamps import LibraryStamps

log = logging.getLogger(__name__)
ENTRY_TTL_SECONDS = 60
# The latest result outlives the entries, so that when an entry expires the requests that
# wait for its recomputation still have something to show.
LATEST_TTL_SECONDS = 600
COMPUTE_LOCK_MS = 10_000
# A request that finds another computing and no latest result waits this long for it.
WAIT_FOR_OTHER_S, WAIT_STEP_S = 2.0, 0.02
# A page polling every 2 s while the stamps move computes 30 times a minute; two tabs 60.
MAX_COMPUTES_PER_MINUTE = 60


class ComparisonRefused(Exception):
    """A comparison the cache will not compute; ``status`` and the sentence to show."""

    status = 400


class PastTheEnd(ComparisonRefused):
    """The offset is past the last shared artist there can be."""

    status = 400


class TooManyComputes(ComparisonRefused):
    """The person used up this minute's uncached computations."""

    status = 429


class ComparisonCache:
    """``compare`` with a cache in front of it."""

    def __init__(
        self, ref: RedisRef | None, computes_per_minute: int = MAX_COMPUTES_PER_MINUTE
    ) -> None:
        self.ref = ref
        self.stamps = LibraryStamps(ref) if ref is not None else None
        self.computes_per_minute = computes_per_minute

    def compare(
        self, me: User, friend: User, month: str, *, limit: int, offset: int, sort: str,
        spender: int | None = None,
    ) -> Comparison:  # fmt: skip
        """The comparison, from the cache when neither library changed since it was made.
        Counts against ``spender``'s computations (by default ``me``'s): the person asking,
        who in a group's pair view may be neither of the two.

        Raises ``PastTheEnd`` or ``TooManyComputes`` (see the module's docstring)."""
        limit = max(1, min(MAX_LIMIT, limit))
        if offset > 0 and offset >= min(me.artist_total(), friend.artist_total()):
            raise PastTheEnd("That page of the comparison does not exist.")

        def compute() -> Comparison:
            return compare(me, friend, month, limit=limit, offset=offset, sort=sort)

        params = f"{me.id}:{friend.id}:{month}:{sort}:{limit}:{offset}"
        payer = me.id if spender is None else spender
        found = self._through_cache("comparison", params, [me.id, friend.id], payer, compute)
        return found if isinstance(found, Comparison) else comparison_from_dict(found)

    def group(
        self, key: str, members: list[tuple[int, int]], viewer_id: int, month: str, *,
        limit: int, offset: int,
    ) -> GroupReport:  # fmt: skip
        """A group's report (``members``: the joined members' (number, user id)), from the
        cache when no member's library changed and nobody joined or left since it was made.
        Counts against ``viewer_id``'s computations, as a comparison does."""
        limit = max(1, min(GROUP_MAX_LIMIT, limit))

        def compute() -> GroupReport:
            return group_report(members, month, limit=limit, offset=offset)

        # The members are in the key: one who leaves or joins makes another entry at once.
        who = ",".join(f"{number}-{user_id}" for number, user_id in members)
        params = f"{key}:{who}:{month}:{limit}:{offset}"
        user_ids = [user_id for _, user_id in members]
        found = self._through_cache("group", params, user_ids, viewer_id, compute)
        return found if isinstance(found, GroupReport) else group_report_from_dict(found)

    def _through_cache(
        self, kind: str, params: str, user_ids: list[int], spender: int,
        compute: Callable[[], Any],
    ) -> Any:  # fmt: skip
        """``compute()``'s result, or its cached JSON (a dict) when these people's stamps
        have not moved since; one computation at a time per ``params``."""
        if self.ref is None or self.stamps is None:
            return compute()
        client = self.ref.client
        latest_key = self.ref.key(f"{kind}-latest", params)
        lock_key = self.ref.key(f"{kind}-lock", params)
        try:
            key = self.ref.key(kind, params, *self.stamps.current(user_ids))
            if (cached := client.get(key)) is not None:
                return json.loads(cached)
            if not self._may_compute(client, spender):
                if (found := client.get(latest_key)) is not None:
                    return json.loads(found)
                raise TooManyComputes(
                    "You asked for many comparisons at once. Wait a minute and try again."
                )
            # The lock is taken when another request is computing this one now.
            computing = not client.set(lock_key, "1", nx=True, px=COMPUTE_LOCK_MS)
            if computing:
                found = client.get(latest_key) or self._wait_for(client, key)
                if found is not None:
                    return json.loads(found)
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

    def spend(self, user_id: int) -> None:
        """Count one computation from libraries that no cache answers (the "only you" and
        "only them" pages): raises ``TooManyComputes`` when the minute's budget is spent.
        Without Redis nothing is counted, as for the comparison itself."""
        if self.ref is None:
            return
        try:
            allowed = self._may_compute(self.ref.client, user_id)
        except redis.RedisError as error:
            log.warning("comparison budget unavailable, computing: %s", error)
            return
        if not allowed:
            raise TooManyComputes(
                "You asked for many comparisons at once. Wait a minute and try again."
            )

    def budget_key(self, user_id: int) -> str:
        """The key counting the person's uncached computations this minute."""
        assert self.ref is not None
        return self.ref.key("comparison-budget", str(user_id))

    def _may_compute(self, client: redis.Redis, user_id: int) -> bool:
        """Count one uncached computation; False when the minute's budget is spent."""
        key = self.budget_key(user_id)
        pipe = client.pipeline(transaction=False)
        pipe.set(key, 0, ex=60, nx=True)  # the minute starts with the first computation
        pipe.incr(key)
        return pipe.execute()[1] <= self.computes_per_minute

    def _wait_for(self, client: redis.Redis, key: str) -> bytes | None:
        """The entry another request is computing, once it lands (None: it did not)."""
        deadline = time.monotonic() + WAIT_FOR_OTHER_S
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP_S)
            if (found := client.get(key)) is not None:
                return found if isinstance(found, bytes) else str(found).encode()
        return None
