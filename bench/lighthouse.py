"""Lighthouse's performance score of the pages people meet, the median of several runs.

    make lighthouse
    .venv/bin/python bench/lighthouse.py [-n 5]

Starts the demo app with ``overlap run`` (embedded Redis, a temp SQLite file, the demo
Spotify) on free loopback ports. In Chromium, Ben signs in; Cléo opens Ben's link, signs in
and compares, and the bench waits for the finished comparison. Then it runs Lighthouse
``-n`` times on each page (landing, welcome, home, comparison), as a phone and as a
desktop, and prints per page the median performance score (target: 100), the lowest, the
median total blocking time and largest contentful paint, and Lighthouse's CPU benchmark.

Why a benchmark and not a test: the score is computed from durations measured on this
machine (Lighthouse applies a phone's 4 x slowdown to the tasks it records), so another
process's burst of work takes points off a page that did not change: a page with 1 KiB of
script scored 95 in CI with a benchmark index of 1,050 and a load of 1.5. Lighthouse's own
guidance on variability is to take the median of five runs. What does not come from
durations is asserted on every run by ``tests/web/test_lighthouse.py``, which imports the
helpers below.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from cli.embedded_redis import free_port
from config.settings import ROOT

LOCKED = ROOT / "tools" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
LIGHTHOUSE = (
    os.environ.get("LIGHTHOUSE")
    or (str(LOCKED) if LOCKED.exists() else None)
    or shutil.which("lighthouse")
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
UNSCORED = ("informative", "manual", "notApplicable", "error")
# The performance audits whose result comes from durations measured on this machine (the
# metrics, and the diagnostics that time the main thread or the server), which a busy CPU
# lengthens. Every other performance audit must pass on any machine.
TIMING = frozenset({
    "first-contentful-paint", "largest-contentful-paint", "speed-index", "interactive",
    "total-blocking-time", "max-potential-fid", "first-meaningful-paint", "bootup-time",
    "largest-contentful-paint-element", "mainthread-work-breakdown", "long-tasks",
    "server-response-time", "document-latency-insight", "forced-reflow-insight",
})  # fmt: skip
BIN = Path(sys.executable).parent


def lighthouse(url: str, form: str, cookie: str | None, keep: str | None = None) -> dict:
    """Lighthouse's report on ``url`` as a phone or a desktop sees it (its JSON kept in the
    folder ``keep`` when given, to read a run's details later)."""
    assert LIGHTHOUSE and CHROMIUM, "needs Lighthouse (make lighthouse) and Chromium"
    command = [
        str(LIGHTHOUSE), url, "--output=json", "--output-path=stdout", "--quiet",
        f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={' '.join(CHROMIUM_FLAGS)}",
    ]  # fmt: skip
    if form == "desktop":
        command.append("--preset=desktop")
    if cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "CHROME_PATH": str(CHROMIUM)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    if keep:
        name = url.split("/", 3)[-1].replace("/", "_") or "root"
        Path(keep, f"{name}-{form}-{'in' if cookie else 'out'}.json").write_text(done.stdout)
    return json.loads(done.stdout)


def scores(report: dict) -> dict[str, int]:
    """The four category scores, 0-100."""
    return {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}


def failing(report: dict, category: str) -> set[str]:
    """The scored audits of ``category`` short of full marks."""
    refs = report["categories"][category]["auditRefs"]
    audits = [report["audits"][ref["id"]] for ref in refs]
    return {
        a["id"]
        for a in audits
        if a["score"] is not None and a["score"] < 1 and a["scoreDisplayMode"] not in UNSCORED
    }


def compared_in_browser(base: str) -> tuple[str, str, str]:
    """Ben signs in; Cléo opens his link, signs in and compares. Ben's link, the path of
    the finished comparison, and Cléo's session cookie."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        ben = browser.new_page()
        ben.goto(base)
        ben.click("text=Sign in with Spotify")
        ben.click("text=Ben")
        ben.wait_for_url(f"{base}/", timeout=90_000)
        code = ben.inner_text("strong.code")
        cleo = browser.new_context().new_page()
        cleo.set_default_timeout(90_000)
        cleo.goto(f"{base}/compare/{code}")
        cleo.click("text=Sign in with Spotify to compare")
        cleo.click("text=Cléo")
        cleo.click("button:has-text('Compare with Ben')")
        cleo.wait_for_selector("#comparison[data-complete=true]", timeout=180_000)
        path = cleo.url.removeprefix(base).split("?")[0]
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in cleo.context.cookies())
        browser.close()
    return f"/compare/{code}", path, cookie


@contextmanager
def demo_app(folder: str) -> Iterator[str]:
    """``overlap run`` in demo mode on free ports, its database and files in ``folder``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DEMO_"))}
    env.pop("REDIS_URL", None)
    env.update(
        OVERLAP_VAR_DIR=folder, PORT=str(port), DEMO_SPOTIFY_PORT=str(free_port()),
        DATABASE_URL=f"sqlite:///{Path(folder) / 'app.db'}",
        # The comparison is finished once every shared artist's count is in: fast limits
        # for the demo Spotify, as the test's app has, so that takes seconds, not minutes.
        SPOTIFY_API_RATE="500", SPOTIFY_PAGES_RATE="500",
    )  # fmt: skip
    with open(Path(folder, "run.log"), "wb") as log:
        upgrade = [BIN / "overlap", "db", "upgrade"]
        subprocess.run(upgrade, env=env, check=True, stdout=log, stderr=log)
        run = subprocess.Popen([BIN / "overlap", "run"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(60)


def summary(reports: list[dict]) -> str:
    """One page's runs: median and lowest score, median TBT and LCP, median benchmark."""
    perf = [scores(r)["performance"] for r in reports]

    def median(audit: str) -> float:
        return statistics.median(r["audits"][audit]["numericValue"] for r in reports)

    bench = statistics.median(r["environment"]["benchmarkIndex"] for r in reports)
    return (
        f"{statistics.median(perf):6.0f} {min(perf):6} {median('total-blocking-time'):8.0f} "
        f"{median('largest-contentful-paint'):8.0f} {bench:10.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="runs per page and form")
    parser.add_argument("--keep", help="a folder to keep every report's JSON in")
    args = parser.parse_args()
    if not (LIGHTHOUSE and CHROMIUM):
        sys.exit("needs Lighthouse (make lighthouse) and Debian's chromium (apt-get install)")
    folder = tempfile.mkdtemp(prefix="lighthouse-bench-")
    try:
        with demo_app(folder) as base:
            welcome, comparison, cookie = compared_in_browser(base)
            pages = {
                "landing": ("/", None), "welcome": (welcome, None),
                "home": ("/", cookie), "comparison": (comparison, cookie),
            }  # fmt: skip
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"Lighthouse, {args.n} runs a page; load {load} on {os.cpu_count()} cores")
            print("page        form     median lowest  TBT ms   LCP ms  benchmark")
            for name, (path, with_cookie) in pages.items():
                for form in ("mobile", "desktop"):
                    url = f"{base}{path}"
                    runs = [lighthouse(url, form, with_cookie, args.keep) for _ in range(args.n)]
                    print(f"{name:11} {form:7} {summary(runs)}", flush=True)
    finally:
        if os.environ.get("KEEP_BENCH_FOLDER"):
            print("kept", folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
