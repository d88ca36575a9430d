"""Deleting a person's account: their rows, their jobs and everything Redis holds about them.

Redis keeps a person in the comparison cache (entries, the latest result, the compute lock
and budget, which hold names and artists for up to ten minutes), their library stamp (30
days) and their friend-code guess count. All of it goes with the account, so nothing about
the person outlives the sentence the page shows ("your data is deleted").

Their jobs are cancelled first: a waiting one is skipped when a worker takes its message,
a running one stops at its next page. Only finished rows are deleted; the cancelled ones
name just an id that is never given to anyone else (the ``user`` table's ids are
AUTOINCREMENT on SQLite and a sequence on PostgreSQL) and go with the job-run retention.
"""

from __future__ import annotations

import redis

from config.redis_ref import RedisRef
from models import ComparedWith, JobRun, User, database
from models.job_run import ACTIVE
from sync.library_stamps import LibraryStamps
from sync.users import user_subject
from web.comparison_cache import ComparisonCache
from web.guard import GuessGuard
from web.log_safe import safe_logger

logger = safe_logger(__name__)

# The comparison keys name the two people first: <kind>:<me>:<friend>:<month>:...
COMPARISON_KINDS = ("comparison", "comparison-latest", "comparison-lock")


def delete_account(user: User, ref: RedisRef | None) -> None:
    """Delete ``user``'s rows, cancel their jobs and remove their keys from Redis."""
    subject = user_subject(user.id)
    for job in JobRun.select().where((JobRun.subject == subject) & JobRun.status.in_(ACTIVE)):
        job.request_cancel()
    with database.atomic():
        JobRun.delete().where(
            (JobRun.subject == subject) & JobRun.status.not_in(ACTIVE) & ~JobRun.cancel_requested
        ).execute()
        # Their rows in both people's lists go too (not left to the foreign keys' cascade,
        # which SQLite applies only with its pragma on).
        ComparedWith.forget(user.id)
        User.delete().where(User.id == user.id).execute()
    if ref is not None:
        try:
            keys = keys_about(ref, user.id)
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
        prefix = ref.key(kind, "")
        for raw in ref.client.scan_iter(match=f"{prefix}*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else raw
            ids = key[len(prefix) :].split(":")[:2]
            if str(user_id) in ids:
                keys.append(key)
    return keys
