"""A stamp per person that changes whenever what their comparisons show could change.

The sync functions touch a person's stamp after each commit that changes their library:
a page of links, the removal of unseen links, and any artist of theirs getting its
listener count or fields. The web's comparison cache keys its entries by both people's
stamps, so an entry is never served after a change it does not show, and a comparison
nobody's data changed under is not computed again.

Stamps are random tokens, not counters: a stamp that Redis lost (a restart, an eviction)
is simply a new token, which misses every cached entry instead of matching an old one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from config.redis_ref import RedisRef, text
from models import UserArtist
from models.db import tuple_rows

# Long enough that an idle person keeps their cached comparisons; a missing stamp is
# only a cache miss.
STAMP_TTL_SECONDS = 30 * 24 * 3600


class LibraryStamps:
    """Read and touch the stamps in one Redis, under the app's key namespace."""

    def __init__(self, ref: RedisRef) -> None:
        self.ref = ref

    def _key(self, user_id: int) -> str:
        return self.ref.key("library-stamp", user_id)

    def touch(self, user_ids: Iterable[int]) -> None:
        """Give these people new stamps: call it after the change is committed."""
        pipe = self.ref.client.pipeline(transaction=False)
        self.touch_in(pipe, user_ids)
        pipe.execute()

    def touch_in(self, pipe: Any, user_ids: Iterable[int]) -> None:
        """Add the touch of these people's stamps to a pipeline of this Redis."""
        for user_id in set(user_ids):
            pipe.set(self._key(user_id), uuid.uuid4().hex, ex=STAMP_TTL_SECONDS)

    def touch_artist(self, artist_id: int) -> None:
        """New stamps for everyone who has this artist in their library."""
        users = UserArtist.select(UserArtist.user).where(UserArtist.artist == artist_id)
        self.touch(user_id for (user_id,) in tuple_rows(users.distinct()))

    def current(self, user_ids: Sequence[int]) -> list[str]:
        """The stamps of these people, creating the missing ones."""
        keys = [self._key(u) for u in user_ids]
        found = self.ref.client.mget(keys)
        missing = [k for k, value in zip(keys, found, strict=True) if value is None]
        if missing:
            pipe = self.ref.client.pipeline(transaction=False)
            for key in missing:
                pipe.set(key, uuid.uuid4().hex, ex=STAMP_TTL_SECONDS, nx=True)
            pipe.execute()
            found = self.ref.client.mget(keys)
        return [text(value or b"") for value in found]
