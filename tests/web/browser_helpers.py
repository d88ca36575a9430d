"""What the real-browser tests share: Debian's Chromium and its arguments, the live app on
a real server, a page signed in as a demo person, and the checks of a page at phone and
desktop width, light and dark (no overflow, no serious axe-core finding, screenshots).

Screenshots go to ``OVERLAP_SCREENSHOTS`` when it is set, to look at by eye."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from actors import runtime
from cli.embedded_redis import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Every browser test module's marks: ``pytestmark = BROWSER_TESTS``.
BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium here: install Debian's package (apt-get install chromium); "
        ".ci/run does",
    ),
]

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

NO_OVERFLOW = "document.documentElement.scrollWidth <= innerWidth"
# axe-core, vendored from its npm package (`npm pack axe-core`, version in axe.version).
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SHOTS = os.environ.get("OVERLAP_SCREENSHOTS")


def axe_problems(page: Any) -> list[tuple[str, str, list[str]]]:
    """axe-core's serious and critical violations on the page: (rule, impact, targets)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], v["impact"], [str(n["target"]) for n in v["nodes"]][:5])
        for v in found["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def live_app(app_settings, broker, worker, db):
    """The web app on a real server, with a real worker and fast Spotify limits."""
    import waitress

    from web.app import create_app

    port = free_port()
    settings = app_settings.but(
        redis_namespace=broker.namespace,
        port=port,
        spotify_redirect_uri=f"http://127.0.0.1:{port}/callback",
        spotify_api_rate=500.0,
        spotify_pages_rate=500.0,
        refresh_cooldown_seconds=0,  # the test refreshes right after the first sync
    )
    runtime.configure(settings)
    server = waitress.create_server(create_app(settings), host="127.0.0.1", port=port, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.close()


@contextmanager
def signed_in_browser(base: str, name: str = "Cléo") -> Iterator[tuple[Any, Any]]:
    """Chromium, and a page of it signed in to the app at ``base`` as the demo person
    ``name`` through the demo's consent page (on the home page); closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(base)
            page.click("text=Sign in with Spotify")
            page.click(f"text={name}")
            page.wait_for_url(f"{base}/", timeout=90_000)
            yield browser, page
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    """A screenshot of the whole page into ``OVERLAP_SCREENSHOTS``, when it is set."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def check_everywhere(
    browser: Any, page: Any, path: str, name: str, base: str, part: str | None = None
) -> None:
    """``path`` as ``page``'s person sees it at phone and desktop width, light and dark: no
    overflow, no serious axe-core finding; a screenshot of ``part`` (or all) when asked."""
    signed_in = page.context.storage_state()
    for scheme in ("light", "dark"):
        for width in (390, 1280):
            context = browser.new_context(
                bypass_csp=True,
                color_scheme=scheme,
                storage_state=signed_in,
                viewport={"width": width, "height": 844},
            )
            checked = context.new_page()
            checked.goto(f"{base}{path}")
            assert checked.evaluate(NO_OVERFLOW), (path, scheme, width)
            assert axe_problems(checked) == [], (path, scheme, width)
            if SHOTS and part:
                shot_path = str(Path(SHOTS) / f"{name}-{scheme}-{width}.png")
                checked.locator(part).screenshot(path=shot_path)
            elif SHOTS:
                shot(checked, f"{name}-{scheme}-{width}")
            context.close()
