"""Scenario b of the rig: a full sync with every app host 20 ms each way from ``data``,
against its bound, beside the same sync with no delay.

    .venv/bin/python bench/distance_sync.py [--delay-ms 20] [--user cleo]

Needs root and what the rig needs (``tests/rig/stack.py``: ``ip``, PostgreSQL's server
binaries, ``redis-server``). For each delay (0, then ``--delay-ms``) it brings the whole
stack up on the rig's hosts (web and scheduler on ``web``, ``worker`` and ``worker-bulk``
on ``worker-1`` and ``worker-2``, PostgreSQL and Redis on ``data``, the demo Spotify on
``spotify`` at 20 ms latency, the delay in a proxy on each app host's links to ``data``),
signs the person in through the web and times their first sync from the sign-in's answer
(which asks for it) until the job succeeded and every one of their artists has this
month's listener row (with ``--job-only``, until the job succeeded: the library pages
alone, as a sync of a person whose artists all have their counts). The sign-in's own time
is printed beside it. The library is then checked against the demo's truth.

Bound, as bench/full_sync.py: the sync cannot end before the slowest of the followed
artists' cursor pages read one after the other (pages x latency), every Web API request
at ``SPOTIFY_API_RATE``, every artist page at ``SPOTIFY_PAGES_RATE`` (the defaults, 20
and 10 a second; with ``--job-only`` the first two). Target (issue 21 b): wall / bound
<= 1.15 with the delay.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from full_sync import missing_listeners  # noqa: E402

from actors.testing import assert_library_is_spotifys  # noqa: E402
from models import JobRun, current_month, database, init_database, tokens  # noqa: E402
from spotify_demo.building import build_catalog  # noqa: E402
from spotify_demo.config import DemoConfig  # noqa: E402
from spotify_demo.harness import DemoSpotify  # noqa: E402
from tests.faults.test_redis_outage import Browser, latest_sync, user  # noqa: E402

SCALE, LATENCY_MS, API_RATE, PAGES_RATE, TARGET = 0.25, 20, 20.0, 10.0, 1.15


def rig_stack() -> ModuleType:
    """``tests/rig/stack.py``, loaded by path (the rig's folder is not a package)."""
    spec = importlib.util.spec_from_file_location("rig_stack", ROOT / "tests/rig/stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rig_stack"] = module
    spec.loader.exec_module(module)
    return module


def timed_sync(
    stack: ModuleType, delay_ms: float, spotify_id: str, scale: float, job_only: bool
) -> dict[str, float]:
    """One stack at ``delay_ms``; the person's first sync's wall time and its bound (of the
    sync job alone with ``job_only``: its library pages, not the listener counts)."""
    env = {
        "DEMO_SPOTIFY_SCALE": str(scale), "DEMO_SPOTIFY_LATENCY_MS": str(LATENCY_MS),
        "SPOTIFY_API_RATE": f"{API_RATE:g}", "SPOTIFY_PAGES_RATE": f"{PAGES_RATE:g}",
    }  # fmt: skip
    log_dir = Path(tempfile.mkdtemp(prefix="bench-distance-"))
    with stack.whole_stack(log_dir, delay_ms, env) as app:
        init_database(app.data.database_url)
        tokens.configure((stack.TOKEN_KEY,))
        config = DemoConfig(scale=scale)
        demo = DemoSpotify(app.spotify_url, config, build_catalog(config.seed, scale))
        demo.reset()
        browser, month = Browser(app.web_url), current_month()
        start = time.monotonic()
        browser.sign_in(demo, spotify_id)
        # The sign-in asks for the sync before its last answer: the sync's time starts here.
        asked = time.monotonic()
        job, person = latest_sync(spotify_id), user(spotify_id)
        while True:
            time.sleep(0.1)
            row = JobRun.get_by_id(job.id)
            if row.status == "failed":
                raise SystemExit(f"the sync failed: {row.error}; logs in {log_dir}")
            counted = job_only or missing_listeners(person.id, month) == 0
            if row.status == "succeeded" and counted:
                break
        wall = time.monotonic() - asked
        stats = demo.stats()
        waited = (row.started_at - row.enqueued_at).total_seconds()
        ran = (row.finished_at - row.started_at).total_seconds()
        print(f"  the sign-in took {asked - start:.1f} s; the sync's message waited "
              f"{waited:.1f} s for a worker (the web's send, the worker's next look, its "
              f"fetch and claim), its job ran {ran:.1f} s", flush=True)  # fmt: skip
        assert_library_is_spotifys(person, demo.catalog, spotify_id)
        database.close()
    api, pages = stats["requests"]["api"], stats["requests"]["open"]
    cursor = stats["routes"].get("GET /v1/me/following", 0)
    bounds = {"cursor": cursor * LATENCY_MS / 1000, "api": api / API_RATE}
    if not job_only:
        bounds["pages"] = pages / PAGES_RATE
    bound = max(bounds.values())
    print(f"delay {delay_ms:g} ms: wall {wall:.1f} s, bound {bound:.1f} s "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in bounds.items())}; API {api}, pages {pages}, "
          f"429s {stats['rate_limited']}): {wall / bound:.2f} x the bound", flush=True)  # fmt: skip
    if job_only:
        # The job's own clock (its row's stamps, on Redis's clock): from its start, and
        # from its request, which the sign-in made before its last round trips.
        print(f"  the job's run {ran / bound:.2f} x the bound; from its request "
              f"{(waited + ran) / bound:.2f} x", flush=True)  # fmt: skip
    return {"wall": wall, "bound": bound}


def main() -> None:
    """Both delays, side by side, and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=20, help="one-way delay to data")
    parser.add_argument("--user", default="ben", help="whose first sync (a demo user)")
    parser.add_argument("--scale", type=float, default=SCALE, help="the demo catalog's size")
    parser.add_argument(
        "--job-only", action="store_true", help="time the sync job alone, not the counts"
    )
    args = parser.parse_args()
    stack = rig_stack()
    if (reason := stack.why_not_here()) is not None:
        raise SystemExit(f"the rig cannot run here: {reason}")
    near = timed_sync(stack, 0, args.user, args.scale, args.job_only)
    far = timed_sync(stack, args.delay_ms, args.user, args.scale, args.job_only)
    ratio = far["wall"] / far["bound"]
    verdict = "PASS" if ratio <= TARGET else "MISS"
    slower = far["wall"] / near["wall"]
    print(f"{args.delay_ms:g} ms each way / none: {slower:.2f} x the wall time; "
          f"with the delay {ratio:.2f} x the bound (target <= {TARGET}) {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
