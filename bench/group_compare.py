"""A group of five people of 15,000 artists each: the report uncached, and the page's poll
cached, beside today's two-person ``compare()`` in the same run.

    .venv/bin/python bench/group_compare.py [-n 100]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/groupbench .venv/bin/python bench/...

Five users of 15,000 artists each from a pool of 40,000: 3,000 that everyone has and
12,000 drawn at random per person, so every holder count from one to five occurs; linked
from one to three sources; 90 % of the artists have this month's listener row (a few
without a count). Times, N times each after a warm-up:

1. ``group_report`` of the five, uncached (target: p50 under 100 ms), and ``compare`` of
   two of them (today's two-person computation) for the ratio, on the same data and
   machine, so a busy machine's slowness shows in both; and the report's own
   ``first_saves`` query alone (who saved first each shown artist two or more hold: the
   saved links carry dates), as a share of the report;
2. the group page's htmx poll (``GET /groups/<id>`` with ``HX-Request``) through the
   app's own WSGI stack (``create_app``, in this process), every answer from the cache
   (target: p99 under 50 ms), beside the two-person page's poll (``/with/<id>``). The
   listener rows are then all in, so the group is complete and the poll does what every
   poll of an unchanged group does.

Uses a temp SQLite file, or ``$DATABASE_URL`` (a database without the app's tables; they
are created and dropped again). Redis is ``$REDIS_URL`` (keys under a namespace of the
run's own) or the embedded one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import redis
import webtest
from compare_queries import SOURCE_MIX, baseline_module, insert, timed, timed_pair
from web_compare import SECRET_KEY, session_cookie

from cli.embedded_redis import EmbeddedRedis
from config.settings import Settings
from jobs import queueing
from models import (
    Artist,
    ArtistListeners,
    ComparedWith,
    Group,
    JobRun,
    User,
    UserArtist,
    current_month,
    database,
    held_counts,
    init_database,
    migrations,
)
from models.comparison import compare
from models.db import utcnow
from models.first_saved import first_saves
from models.group import counted_members
from models.group_comparison import GroupReport, group_report
from models.job_run import user_subject
from web.app import create_app
from web.http.session import COOKIE

# The group report before its rows carried their own order (session 7's cuts).
BASELINE = "4ad5f40"

PEOPLE, PER_USER, CORE, POOL, WITH_ROW = 5, 15_000, 3_000, 40_000, 0.9


def load(month: str, rng: random.Random) -> list[User]:
    """The five libraries and this month's listener rows; the five users, synced."""
    now = utcnow()
    insert(Artist, [
        {"spotify_id": f"group{i:017d}", "name": f"Artist {rng.randrange(10**6)} <{i}>",
         "url": f"https://open.spotify.com/artist/{i}", "image_url": None,
         "details_complete": True, "created_at": now, "updated_at": now}
        for i in range(POOL)
    ])  # fmt: skip
    ids = [a for (a,) in Artist.select(Artist.id).order_by(Artist.id).tuples()]
    users = [User.create(spotify_id=f"bench-{n}", display_name=f"P{n}") for n in range(PEOPLE)]
    links = []
    for user in users:
        for artist in ids[:CORE] + rng.sample(ids[CORE:], PER_USER - CORE):
            chosen = [s for s, p in SOURCE_MIX if rng.random() < p] or ["saved_track"]
            # A saved track or album has its date (who saved it first), a follow none.
            saved = now - dt.timedelta(days=rng.randrange(4000))
            links += [{"user": user.id, "artist": artist, "source": s, "seen_at": now,
                       "added_at": None if s == "followed" else saved}
                      for s in chosen]  # fmt: skip
        User.update(last_synced_at=now).where(User.id == user.id).execute()
        JobRun.create(
            message_id=uuid.uuid4().hex, actor=queueing.UPDATE_USER, args=[user.id],
            subject=user_subject(user.id), queue=queueing.INTERACTIVE_QUEUE,
            requested_by="bench", status="succeeded", enqueued_at=now, started_at=now,
            finished_at=now,
        )  # fmt: skip
    insert(UserArtist, links)
    rows = [
        {"artist": a, "month": month, "read_at": now,
         "monthly_listeners": int(10 ** rng.uniform(1, 8.5)) if rng.random() > 0.02 else None}
        for a in ids if rng.random() < WITH_ROW
    ]  # fmt: skip
    insert(ArtistListeners, rows)
    for user in users:
        # The rows were inserted around the model methods, which keep held_count.
        held_counts.fill(user.id)
    database.execute_sql("ANALYZE")
    return users


def complete_counts(month: str) -> None:
    """Give every artist this month's row, as once every count is in."""
    now = utcnow()
    have = ArtistListeners.select(ArtistListeners.artist).where(ArtistListeners.month == month)
    missing = [a for (a,) in Artist.select(Artist.id).where(Artist.id.not_in(have)).tuples()]
    insert(ArtistListeners, [{"artist": a, "month": month, "read_at": now,
                              "monthly_listeners": 1000 + a} for a in missing])  # fmt: skip


def first_saves_timer(report: GroupReport, user_ids: list[int]) -> Callable[[], object]:
    """The report's own ``first_saves`` query alone: the artists it shows that two or more
    hold (everyone, all but one, the glue's first page)."""
    shown = {a.spotify_id for a in (*report.everyone, *report.all_but_one, *report.artists)}
    ids = [a for (a,) in Artist.select(Artist.id).where(Artist.spotify_id.in_(shown)).tuples()]
    print(f"first_saves: {len(ids)} shown artists of {len(user_ids)} people")
    return lambda: first_saves(user_ids, ids)


def poll_timer(settings: Settings, path: str, user: User) -> Callable[[], object]:
    """One cached poll of a complete page (a group's, or a two-person comparison's),
    through the app's WSGI stack."""
    app = webtest.TestApp(create_app(settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    cookie, _ = session_cookie(user)
    app.set_cookie(COOKIE, cookie)

    def poll() -> object:
        answer = app.get(path, headers={"HX-Request": "true"}, status=286)
        assert 'data-complete="true"' in answer.text
        return answer

    return poll


def before_and_now(members: list[tuple[int, int]], month: str, n: int) -> None:
    """Today's ``group_report`` and the one at ``BASELINE`` (read with ``git show``), the
    calls taking turns, once both were seen to give the same report."""
    before = baseline_module(BASELINE, "models/group_comparison.py")
    if repr(before.group_report(members, month)) != repr(group_report(members, month)):
        raise SystemExit(f"group_report() at {BASELINE} and today's differ")
    p50 = timed_pair(
        {
            f"group_report() at {BASELINE}": lambda: before.group_report(members, month),
            "group_report() now": lambda: group_report(members, month),
        },
        n,
    )
    ratio = p50["group_report() now"] / p50[f"group_report() at {BASELINE}"]
    print(f"ratio now / {BASELINE} (p50): {ratio:.2f}")


def run(url: str, redis_url: str, n: int) -> None:
    """Create the schema, load, time, and drop everything again."""
    init_database(url)
    if migrations.current_version() is not None:
        raise SystemExit("this database has the app's tables already: give the bench its own")
    migrations.upgrade()
    namespace = f"bench-group-{uuid.uuid4().hex[:8]}"
    try:
        month = current_month()
        start = time.perf_counter()
        users = load(month, random.Random(20261205))
        group = Group.start(users[0], users[1:])
        for user in users[1:]:
            group.join(user)
        members = counted_members(group.members())
        print(f"{url.split('://')[0]}: loaded in {time.perf_counter() - start:.1f} s")
        report = group_report(members, month)
        print(f"counts {list(report.counts.values())}, everyone {report.everyone_count:,}, "
              f"two or more {report.artists_count:,}, pending {report.pending:,}")  # fmt: skip
        two = timed("compare() of two (today)", lambda: compare(users[0], users[1], month), n)
        five = timed("group_report() of five", lambda: group_report(members, month), n)
        print(f"group of five / compare of two: {five / two:.2f}x (p50); target p50 < 100 ms")
        before_and_now(members, month, n)
        firsts = timed(
            "of which first_saves()", first_saves_timer(report, [u.id for u in users]), n
        )
        print(f"first_saves / group_report: {firsts / five:.2f}x (p50)")
        complete_counts(month)
        for user in users:
            held_counts.fill(user.id)
        settings = Settings.from_env(
            {"DATABASE_URL": url, "REDIS_URL": redis_url, "REDIS_NAMESPACE": namespace,
             "SECRET_KEY": SECRET_KEY, "COMPARE_COMPUTES_PER_MINUTE": "100000"},
            read_dotenv=False,
        )  # fmt: skip
        ComparedWith.let_in(users[0], users[1])
        pair = poll_timer(settings, f"/with/{users[1].id}", users[0])
        one = timed("two-person poll, cached (web)", pair, n)
        poll = poll_timer(settings, f"/groups/{group.key}", users[0])
        many = timed("group poll, cached (web)", poll, n)
        print(f"group poll / two-person poll: {many / one:.2f}x (p50); target p99 < 50 ms")
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        migrations.drop_all()
        database.close()


def main() -> None:
    """Bench on $DATABASE_URL, or on a temp SQLite file removed afterwards."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="timed calls of each")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-group-"))
    try:
        with ExitStack() as stack:
            redis_url = (
                os.environ.get("REDIS_URL")
                or stack.enter_context(EmbeddedRedis(tmp / "redis", persist=False)).url
            )
            run(os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db", redis_url, args.n)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
