"""The comparison report's queries on two big libraries: p50 and p99 per call, today's
``compare`` beside the one before issue 20, in the same run.

    .venv/bin/python bench/compare_queries.py [-n 200] [--baseline 56d4da3]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/cmpbench .venv/bin/python bench/...

Two users of 15,000 artists each, 5,000 of them shared, linked from one to three sources;
90 % of the artists have this month's listener row (a few of those without a count) and
every artist has last month's, so the month filter has something to skip. Times
``person_summary`` of each person and ``compare`` (first page, default sort) N times each,
after a warm-up, and ``compare`` of the baseline commit's ``models/comparison.py`` (read
with ``git show``; it computed everything from ``user_artist`` and ``artist_listeners``),
the two calls taking turns so that a busy machine slows both alike; it prints the ratio of
the p50s and checks that both answer the same. This is the uncached computation, what a
poll costs when a library just changed; polls of an unchanged comparison are served from
the cache (bench/web_compare.py times both through the web server against the page
targets).
Uses a temp SQLite file, or ``$DATABASE_URL``: a database without the app's tables (they
are created and dropped again); create one with ``createdb cmpbench``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

from models import (
    Artist,
    ArtistListeners,
    User,
    UserArtist,
    database,
    held_counts,
    init_database,
    migrations,
)
from models.comparison import compare, person_summary
from models.db import is_postgres, utcnow

# main before issue 20: compare() ran about seven queries over every artist of both people.
BASELINE = "56d4da3"

PER_USER, SHARED, WITH_ROW = 15_000, 5_000, 0.9
CHUNK = 500
SOURCE_MIX = (("followed", 0.5), ("saved_track", 0.6), ("saved_album", 0.2))


def insert(model: type, rows: list[dict]) -> None:
    """Insert rows in chunks, in one transaction."""
    with database.atomic():
        for start in range(0, len(rows), CHUNK):
            model.insert_many(rows[start : start + CHUNK]).execute()


def load(
    month: str, last_month: str, rng: random.Random, with_row: float = WITH_ROW
) -> tuple[User, User]:
    """The two libraries, their artists and the listener rows; returns the two users.

    ``with_row`` is the share of artists with a row for ``month`` (1.0: every listener
    count is in, as once a comparison is complete); ``bench/web_compare.py`` reuses this.
    """
    now, total = utcnow(), 2 * PER_USER - SHARED
    insert(Artist, [
        {"spotify_id": f"bench{i:017d}", "name": f"Artist {rng.randrange(10**6)} <{i}>",
         "url": f"https://open.spotify.com/artist/{i}", "image_url": None,
         "details_complete": True, "created_at": now, "updated_at": now}
        for i in range(total)
    ])  # fmt: skip
    ids = [a for (a,) in Artist.select(Artist.id).order_by(Artist.id).tuples()]
    users = [User.create(spotify_id=f"bench-{n}", display_name=n) for n in ("ana", "ben")]
    # Ana has ids[:15000], Ben ids[10000:]: 5,000 shared.
    libraries = (ids[:PER_USER], ids[PER_USER - SHARED :])
    links = []
    for user, library in zip(users, libraries, strict=True):
        for artist in library:
            chosen = [s for s, p in SOURCE_MIX if rng.random() < p] or ["saved_track"]
            links += [{"user": user.id, "artist": artist, "source": s, "seen_at": now}
                      for s in chosen]  # fmt: skip
    insert(UserArtist, links)
    counts = []
    for artist in ids:
        counts.append({"artist": artist, "month": last_month, "read_at": now,
                       "monthly_listeners": int(10 ** rng.uniform(1, 8.5))})  # fmt: skip
        if rng.random() < with_row:
            # 2 % of this month's rows were read without a figure.
            n = int(10 ** rng.uniform(1, 8.5)) if rng.random() > 0.02 else None
            counts.append({"artist": artist, "month": month, "read_at": now,
                           "monthly_listeners": n})  # fmt: skip
    insert(ArtistListeners, counts)
    for user in users:
        # The rows were inserted around the model methods, which keep held_count.
        held_counts.fill(user.id)
    # Plans as production would get them, where autovacuum has run: on PostgreSQL, VACUUM
    # also marks the pages all-visible, which index-only scans need.
    database.execute_sql("VACUUM ANALYZE" if is_postgres() else "ANALYZE")
    return users[0], users[1]


def timed(label: str, call: Callable[[], object], n: int) -> float:
    """Run ``call`` n times after a warm-up; print and return its p50 in ms."""
    return timed_pair({label: call}, n)[label]


def timed_pair(calls: dict[str, Callable[[], object]], n: int) -> dict[str, float]:
    """Run the calls in turn n times after a warm-up; print each one's p50, p99 and max,
    and return the p50s in ms."""
    for _ in range(5):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(n):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            times[label].append((time.perf_counter() - start) * 1000)
    p50s = {}
    for label, got in times.items():
        p50s[label] = statistics.median(got)
        p99 = statistics.quantiles(got, n=100)[98]
        print(f"{label:<28} p50 {p50s[label]:6.1f} ms   p99 {p99:6.1f} ms   max {max(got):6.1f} ms")
    return p50s


def baseline_module(commit: str, path: str = "models/comparison.py") -> types.ModuleType:
    """The module at ``path`` as it was at ``commit``, loaded as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType(f"{Path(path).stem}_at_{commit}")
    sys.modules[module.__name__] = module  # its dataclasses look their module up there
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)  # noqa: S102
    return module


def _as_old(old: object, new: object) -> object:
    """``new`` with only the fields ``old`` has, at every depth: what the comparison has
    learned to say since the baseline (first savers, pending counts) is left out."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {key: _as_old(old[key], new.get(key)) for key in old}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [_as_old(o, n) for o, n in zip(old, new, strict=True)]
    return new


def same_answer(before: object, now: object) -> bool:
    """Whether two comparisons say the same, in every field the baseline has."""
    old, new = dataclasses.asdict(before), dataclasses.asdict(now)  # type: ignore[call-overload]
    return bool(old == _as_old(old, new))


def run(url: str, n: int, baseline: str) -> None:
    """Create the schema, load, time, and drop everything again."""
    init_database(url)
    if migrations.current_version() is not None:
        raise SystemExit("this database has the app's tables already: give the bench its own")
    migrations.upgrade()
    before = baseline_module(baseline)
    try:
        month, last_month = "2026-03", "2026-02"
        start = time.perf_counter()
        ana, ben = load(month, last_month, random.Random(20260301))
        print(f"{url.split('://')[0]}: loaded in {time.perf_counter() - start:.1f} s")
        report = compare(ana, ben, month)
        medians = [p.median_monthly_listeners for p in (report.me, report.friend)]
        print(f"shared {report.shared_count:,}, union {report.union_count:,}, "
              f"pending {report.pending_shared:,}, medians {medians}")  # fmt: skip
        for sort in ("listeners", "-listeners", "name"):
            for offset in (0, 4_950):
                args = (ana, ben, month)
                same = same_answer(before.compare(*args, sort=sort, offset=offset),
                                   compare(*args, sort=sort, offset=offset))  # fmt: skip
                if not same:
                    raise SystemExit(f"the two compare() differ (sort {sort}, offset {offset})")
        print(f"same answers as {baseline}'s compare() (3 sorts, first and last page)")
        timed("person_summary(ana)", lambda: person_summary(ana, month), n)
        timed("person_summary(ben)", lambda: person_summary(ben, month), n)
        p50 = timed_pair(
            {
                f"compare() at {baseline}": lambda: before.compare(ana, ben, month),
                "compare() now": lambda: compare(ana, ben, month),
            },
            n,
        )
        ratio = p50["compare() now"] / p50[f"compare() at {baseline}"]
        print(f"ratio now / {baseline} (p50): {ratio:.2f}")
    finally:
        migrations.drop_all()
        database.close()


def main() -> None:
    """Bench on $DATABASE_URL, or on a temp SQLite file removed afterwards."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="timed calls of each function")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    args = parser.parse_args()
    if url := os.environ.get("DATABASE_URL"):
        run(url, args.n, args.baseline)
        return
    tmp = tempfile.mkdtemp(prefix="bench-compare-")
    try:
        run(f"sqlite:///{tmp}/bench.db", args.n, args.baseline)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
