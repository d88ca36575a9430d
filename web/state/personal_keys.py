"""Forgetting what Redis holds about a person whose account is deleted.

Redis keeps a person in the comparison and group caches (entries, the latest result, the
compute lock and budget, which hold names and artists for up to ten minutes), their library
stamp (30 days) and their friend-code guess count. All of it goes with the account
(``models.account.delete_account`` takes the rows), so nothing about the person outlives
the sentence the page shows ("your data is deleted").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis

from config.redis_ref import RedisRef
from sync.library_stamps import LibraryStamps
from web.state.comparison_cache import ComparisonCache
from web.state.guess_limit import GuessGuard

# No text of the client goes into its lines, so it needs no escaping (config/log_mask.py).
logger = logging.getLogger(__name__)

# The comparison keys name the two people first: <kind>:<me>:<friend>:<month>:...
COMPARISON_KINDS = ("comparison", "comparison-latest", "comparison-lock")
# The group keys name the group, then its counted members as <number>-<user id>,...
GROUP_KINDS = ("group", "group-latest", "group-lock", "group-asked")


def forget_person(ref: RedisRef | None, user_id: int) -> None:
    """Remove every key about the person ``user_id`` from Redis, when it answers."""
    if ref is None:
        return
    try:
        keys = keys_about(ref, user_id)
        if keys:
            ref.client.delete(*keys)
    except redis.RedisError as error:
        # The entries expire by themselves (10 minutes; stamps 30 days).
        logger.warning("could not remove a deleted account's keys from Redis: %s", error)


def keys_about(ref: RedisRef, user_id: int) -> list[str]:
    """Every key in Redis that is about the person ``user_id``."""
    keys = [
        LibraryStamps(ref)._key(user_id),
        GuessGuard.user_key(ref, user_id),
        ComparisonCache(ref).budget_key(user_id),
    ]
    for kind in COMPARISON_KINDS:
        keys += [key for key, parts in _keys_of(ref, kind) if str(user_id) in parts[:2]]
    for kind in GROUP_KINDS:
        keys += [
            key
            for key, parts in _keys_of(ref, kind)
            if any(m.split("-", 1)[-1] == str(user_id) for m in parts[1].split(","))
        ]
    return keys


def _keys_of(ref: RedisRef, kind: str) -> Iterator[tuple[str, list[str]]]:
    """Each key of this kind, with the parts of its name after the kind."""
    prefix = ref.key(kind, "")
    for raw in ref.client.scan_iter(match=f"{prefix}*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        yield key, key[len(prefix) :].split(":")
