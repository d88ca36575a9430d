"""Retention of finished job runs: succeeded runs are kept a week, failed and cancelled a month.

The hourly ``clean_job_runs`` actor and ``overlap jobs clean`` both call
``clean_finished_runs``. It deletes by ids, a batch at a time (1,000 by default), each batch
a short statement of its own, walking the ``finished_at`` index from the oldest row: on a
table of a million rows PostgreSQL never holds a long lock, and the web and the workers go
on writing between batches. Active runs (queued, running, retrying) are never touched: only
the finished statuses are named, in the select and again in the delete.

The same hourly pass removes the artists nobody holds any more (``remove_unheld_artists``):
after an account is deleted, the artists only that person had would otherwise stay, with
their counts, for good.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass

from peewee import JOIN, Expression, Select

from config.settings import Settings
from models import Artist, ArtistListeners, JobRun, UserArtist, database
from models.db import tuple_rows, utcnow
from models.job_run import CANCELLED, FAILED, FINISHED, SUCCEEDED

# Ids per DELETE: small enough for a short lock, large enough for few round trips.
BATCH = 1000

Retention = Mapping[str, dt.timedelta]

# A sync writes an artist's row, then (a moment later, in another transaction) the link
# that says who has it. An artist written this recently is never removed, so that the
# cleanup cannot take it from between the two.
UNHELD_GRACE = dt.timedelta(hours=1)


@dataclass
class Cleanup:
    """What one pass of ``clean_finished_runs`` did."""

    removed: int
    batches: int


def retention(settings: Settings) -> dict[str, dt.timedelta]:
    """How long each finished status is kept, from the settings."""
    failed = dt.timedelta(days=settings.job_retention_failed_days)
    return {
        SUCCEEDED: dt.timedelta(days=settings.job_retention_succeeded_days),
        FAILED: failed,
        CANCELLED: failed,
    }


def retention_of_days(days: int) -> dict[str, dt.timedelta]:
    """The same age for every finished status (``overlap jobs clean --days N``)."""
    return {status: dt.timedelta(days=days) for status in FINISHED}


def clean_finished_runs(
    older_than: Retention, *, batch: int = BATCH, now: dt.datetime | None = None
) -> Cleanup:
    """Delete the finished runs older than their status's age, ``batch`` ids at a time."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    expired = _expired(older_than, now or utcnow())
    removed = batches = 0
    reached: dt.datetime | None = None
    while True:
        query = JobRun.select(JobRun.id, JobRun.finished_at).where(expired)
        if reached is not None:
            # Rows kept behind the last batch (younger failures) are not scanned again.
            query = query.where(JobRun.finished_at >= reached)
        rows = list(tuple_rows(query.order_by(JobRun.finished_at).limit(batch)))
        if not rows:
            break
        ids = [row_id for row_id, _ in rows]
        removed += JobRun.delete().where(JobRun.id.in_(ids) & expired).execute()
        batches += 1
        reached = rows[-1][1]
        if len(rows) < batch:
            break
    return Cleanup(removed=removed, batches=batches)


def remove_unheld_artists(
    *, batch: int = BATCH, now: dt.datetime | None = None, grace: dt.timedelta = UNHELD_GRACE
) -> int:
    """Delete the artists no one holds (no link to any person) and not written within
    ``grace``, with their listener counts, ``batch`` at a time; how many were removed."""
    cutoff = (now or utcnow()) - grace
    removed, after = 0, 0
    while True:
        page = [row_id for (row_id,) in tuple_rows(_unheld(cutoff, after).limit(batch))]
        if not page:
            return removed
        # Found again inside the deletes: someone may have got one of them meanwhile.
        still_unheld = _unheld(cutoff, after).where(Artist.id.in_(page))
        with database.atomic():
            ArtistListeners.delete().where(ArtistListeners.artist.in_(still_unheld)).execute()
            removed += Artist.delete().where(Artist.id.in_(still_unheld)).execute()
        after = page[-1]


def _unheld(cutoff: dt.datetime, after: int) -> Select:
    """The ids, in order, of the artists past ``after`` that nobody holds and nothing wrote
    since ``cutoff`` (the link's index on ``artist_id`` answers each)."""
    return (
        Artist.select(Artist.id)
        .join(UserArtist, JOIN.LEFT_OUTER, on=UserArtist.artist == Artist.id)
        .where(UserArtist.id.is_null() & (Artist.updated_at < cutoff) & (Artist.id > after))
        .order_by(Artist.id)
    )


def count_expired_runs(older_than: Retention, now: dt.datetime | None = None) -> int:
    """How many runs ``clean_finished_runs`` would delete now (for ``--dry-run``)."""
    return JobRun.select().where(_expired(older_than, now or utcnow())).count()


def describe(older_than: Retention) -> str:
    """The retention in words, e.g. ``succeeded older than 7 days, failed ... 30 days``."""
    by_age: dict[dt.timedelta, list[str]] = {}
    for status in FINISHED:
        if status in older_than:
            by_age.setdefault(older_than[status], []).append(status)
    parts = []
    for age, statuses in by_age.items():
        names = (
            statuses[0] if len(statuses) == 1 else f"{', '.join(statuses[:-1])} and {statuses[-1]}"
        )
        parts.append(f"{names} older than {_days(age)}")
    return ", ".join(parts)


def _expired(older_than: Retention, now: dt.datetime) -> Expression:
    """The finished runs past their age: one clause per age, on the finished_at index."""
    active = set(older_than) - set(FINISHED)
    if active or not older_than:
        raise ValueError(f"only finished runs may be cleaned, not {sorted(active) or 'none'}")
    by_cutoff: dict[dt.datetime, list[str]] = {}
    for status, age in older_than.items():
        by_cutoff.setdefault(now - age, []).append(status)
    clauses = [
        JobRun.status.in_(statuses) & (JobRun.finished_at < cutoff)
        for cutoff, statuses in by_cutoff.items()
    ]
    # The newest cutoff bounds the index range, whatever the planner makes of the ORs.
    return (JobRun.finished_at < max(by_cutoff)) & functools.reduce(operator.or_, clauses)


def _days(age: dt.timedelta) -> str:
    days = age.total_seconds() / 86400
    if days == int(days):
        return f"{int(days)} day" if days == 1 else f"{int(days)} days"
    return str(age)
