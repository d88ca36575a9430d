"""200 people polling one comparison for a minute while two syncs and the monthly refresh run:
the web server answers every poll and neither sync stalls.

Everything is real: the Procfile's ``web`` (gunicorn), ``worker`` and ``worker-bulk``
processes, Redis, the database, and the demo Spotify at 20 ms a request with a budget of 3
requests a second (``SPOTIFY_API_RATE``), so that the syncs outlast the load. Ana and Ben sign in
and their syncs start; the comparison polled is theirs, so it fills in while it is polled
(every page a sync stores makes the next poll compute it again). The monthly refresh sends
every one of the demo's 20,000 artists to the bulk queue. ``wrk`` holds 200 connections on
the fragment for ``LOAD_TEST_SECONDS`` (60), each polling like htmx (an answer, then 1.5 to
1.9 s of wait), then flat out for a quarter of that.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import web_compare  # bench/web_compare.py, on the path by this folder's conftest

from actors import runtime
from actors.testing import job_finished, wait_for
from config.redis_ref import RedisRef
from models import Artist, ArtistListeners, ComparedWith, JobRun, current_month
from models.artist import ArtistFields
from models.job_run import FINISHED
from ops.counters import job_totals
from ops.queues import queue_stats
from sync.artists import refresh_outdated_artists
from sync.users import sync_if_needed
from web.http.session import COOKIE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CONNECTIONS, WRK_THREADS = 200, 2
# wrk counts a timeout for a connection whose last request went out longer ago than its
# timeout, even one waiting out its poll delay after a prompt answer, so its 2 s would count
# prompt polls as errors: a poll unanswered after 10 s is one. (htmx itself waits for ever.)
# The latencies are reported, not judged: on a shared machine they follow its other load.
WRK_TIMEOUT_S = 10
WINDOW_S = 10
# Once the load ends the syncs must be done within this: at 3 requests a second, Ana's
# 170 pages take about 70 s from the start, Ben's 43 pages about 45 s.
FINISH_WITHIN_S = 120


def add_outdated_artists(catalog) -> int:
    """Every artist of the demo, none with this month's count: the refresh's work."""
    fields = [
        ArtistFields(a.id, a.name, f"https://open.spotify.com/artist/{a.id}", None, True)
        for a in catalog.artists
    ]
    return len(Artist.upsert_many(fields))


class ProgressLog:
    """Samples the syncs' job rows (and the listener counts stored) twice a second."""

    def __init__(self, job_ids: list[int]) -> None:
        self.job_ids = job_ids
        self.samples: list[tuple[float, dict[int, tuple[int, str]], int]] = []
        self.started = time.monotonic()

    def take(self) -> None:
        """One sample: each job's pages loaded and status, and this month's counts."""
        at = time.monotonic() - self.started
        rows = JobRun.select().where(JobRun.id.in_(self.job_ids))
        jobs = {row.id: (row.pages_loaded, row.status) for row in rows}
        counts = ArtistListeners.select().where(ArtistListeners.month == current_month())
        self.samples.append((at, jobs, counts.count()))

    def run_until(self, done: threading.Event) -> None:
        """Sample now, then until ``done`` is set, then once more."""
        self.started = time.monotonic()
        self.take()
        while not done.wait(0.5):
            self.take()
        self.take()

    def windows(self, seconds: float) -> list[dict]:
        """For each window of ``seconds``: each job's pages loaded in it and whether it was
        still running at its start, and the listener counts stored in it."""
        out, start = [], self.samples[0][0]
        while start + seconds <= self.samples[-1][0] + 0.5:
            first = self._at(start)
            last = self._at(start + seconds)
            jobs = {
                job_id: {
                    "pages": last[1][job_id][0] - first[1][job_id][0],
                    "active_at_start": first[1][job_id][1] not in FINISHED,
                    "finished_in_it": last[1][job_id][1] in FINISHED,
                }
                for job_id in self.job_ids
            }
            out.append({"from": start, "jobs": jobs, "counts": last[2] - first[2]})
            start += seconds
        return out

    def _at(self, moment: float) -> tuple[float, dict, int]:
        """The last sample taken at or before ``moment``."""
        return [s for s in self.samples if s[0] <= moment][-1]


def test_200_pollers_get_every_answer_and_neither_sync_stalls_while_the_refresh_runs(
    broker, sign_in, demo_spotify, app_env, app_processes, wrk, load_seconds, say, tmp_path
):
    # Given the demo Spotify at 20 ms, 20,000 artists without this month's count, Ana and
    # Ben signed in, and the app's processes running
    demo_spotify.set_faults(latency_ms=20)
    add_outdated_artists(demo_spotify.catalog)
    ana, ben = sign_in("ana"), sign_in("ben")
    # A Spotify budget of 3 requests a second, shared by both syncs and the artists' updates:
    # so the syncs last past the load instead of ending in its first seconds.
    app_processes.env.update(DEMO_SPOTIFY_PORT=str(demo_spotify.port), SPOTIFY_API_RATE="3")
    base = app_processes.web()
    app_processes.start("worker")
    app_processes.start("worker-bulk")

    # When both syncs are asked for and the monthly refresh is sent
    jobs = [sync_if_needed(runtime.context(), user) for user in (ana, ben)]
    refresh = refresh_outdated_artists()
    assert refresh.sent == len(demo_spotify.catalog.artists)
    for job in jobs:
        wait_for(
            lambda job=job: JobRun.get_by_id(job.id).pages_loaded > 0, 60, "the syncs to begin"
        )
    bulk = RedisRef.of(broker)
    [bulk_before] = queue_stats(bulk, ["bulk"])

    # ... and 200 pollers poll Ana's comparison with Ben for a minute
    cookie, _ = web_compare.session_cookie(ana, app_env["SECRET_KEY"])
    ComparedWith.let_in(ana, ben)  # as Ana typing Ben's code does
    url = f"{base}/with/{ben.id}"
    headers = {"Cookie": f"{COOKIE}={cookie}", "HX-Request": "true"}
    progress = ProgressLog([job.id for job in jobs])
    done = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        polled = pool.submit(
            web_compare.run_wrk, "pollers", url, headers, load_seconds, tmp_path, True,
            CONNECTIONS, WRK_THREADS, WRK_TIMEOUT_S,
        )  # fmt: skip
        polled.add_done_callback(lambda _: done.set())
        progress.run_until(done)
        pollers = polled.result()
    [bulk_after] = queue_stats(bulk, ["bulk"])
    windows = progress.windows(WINDOW_S)
    say(
        f"pollers: {describe(pollers)}\n"
        + "\n".join(describe_window(w, {"ana": jobs[0].id, "ben": jobs[1].id}) for w in windows)
        + f"\nbulk queue: {bulk_before.waiting:,} waiting before the pollers, "
        f"{bulk_after.waiting:,} after"
    )

    # Then every poll was answered within wrk's timeout, with 200 (or 286 once complete).
    # How many polls the pollers made is the machine's speed (6,900 in a minute on a quiet
    # one, 2,800 on one 2.5x slower, 2026-12-05): a figure, printed above, not a check.
    assert pollers.errors == 0, pollers.error_text()
    assert pollers.requests >= CONNECTIONS, "not every connection was answered once"
    # ... neither sync stalled: each one still running loaded pages in every window
    for window in windows:
        for job_id, seen in window["jobs"].items():
            if seen["active_at_start"]:
                assert seen["pages"] > 0 or seen["finished_in_it"], (
                    f"job {job_id} loaded nothing from {window['from']:.0f} s on: {window}"
                )
    # ... the refresh kept going meanwhile
    assert bulk_after.waiting < bulk_before.waiting

    # When the pollers give way to connections asking flat out (capacity: over it by design,
    # so only its answers are judged, not their time)
    flat_out = web_compare.run_wrk(
        "flat-out", url, headers, max(5, load_seconds // 4), tmp_path, False, CONNECTIONS,
        WRK_THREADS, WRK_TIMEOUT_S,
    )  # fmt: skip
    say(f"flat out: {describe(flat_out)}")
    # Then every request that was answered was answered well
    assert not any(s not in web_compare.OK_STATUSES for s in flat_out.statuses)

    # ... and both syncs finish, every page loaded
    finished = {
        name: wait_for(job_finished(job.id), FINISH_WITHIN_S, f"{name}'s sync to finish")
        for name, job in zip(("ana", "ben"), jobs, strict=True)
    }
    say(
        "syncs: "
        + ", ".join(
            f"{name} {job.status}, {job.pages_loaded} pages in "
            f"{(job.finished_at - job.started_at).total_seconds():.0f} s"
            for name, job in finished.items()
        )
        + f"; update_artist: {job_totals(RedisRef.of(broker)).get('update_artist')}"
    )
    for job in finished.values():
        assert job.status == "succeeded", job.error
        assert job.pages_loaded == job.pages_total


def describe(run: web_compare.WrkResult) -> str:
    """One wrk run in a line."""
    return (
        f"{CONNECTIONS} connections for {run.seconds:.0f} s: {run.requests:,} requests, "
        f"{run.rate:.1f}/s, p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, max "
        f"{run.max_ms:.0f} ms, statuses {run.statuses}, {run.error_text()}"
    )


def describe_window(window: dict, job_ids: dict[str, int]) -> str:
    """One window of the syncs' progress in a line."""
    pages = ", ".join(
        f"{name} +{window['jobs'][job_id]['pages']}"
        + (" (finished)" if window["jobs"][job_id]["finished_in_it"] else "")
        for name, job_id in job_ids.items()
    )
    start = window["from"]
    return f"  {start:3.0f}-{start + WINDOW_S:3.0f} s: pages {pages}; counts +{window['counts']}"
