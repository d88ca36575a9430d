"""A real headless Chromium (Debian's, driven by Playwright) signs in to the demo, opens a
comparison, sees rows appear while the syncs run, sees the polling stop, refreshes, and
deletes the account through htmx's confirm; all under the app's strict Content Security
Policy, which it never sees violated."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from actors import runtime
from cli.embedded_redis import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
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


def test_sign_in_compare_watch_it_fill_in_and_refresh(live_app, sign_in, tmp_path):
    from playwright.sync_api import sync_playwright

    ben = sign_in("ben")  # the friend: signed in once, never synced
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        # Chromium reports each blocked inline script or style, eval or foreign load as a
        # console error; the init script also records the DOM's violation events.
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # A failed load is reported without its address; the answers say which one it was.
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )

        first = page.goto(live_app)
        assert "default-src 'self'" in first.headers["content-security-policy"]
        page.click("text=Sign in with Spotify")
        page.click("text=Cléo")  # the demo Spotify's consent page
        # A first sign-in lands on the loading page, which moves on by itself once the sync
        # is done (Cléo's small library may be loaded before the browser even gets there).
        page.wait_for_url(f"{live_app}/", timeout=90_000)
        assert "Hello, Cleo" in page.content() or "Hello, Cléo" in page.content()

        page.fill("input[name=friend_code]", ben.friend_code)
        page.click("button:has-text('Compare')")
        page.wait_for_url(f"{live_app}/compare/{ben.friend_code}*")
        assert page.get_attribute("#comparison", "data-complete") == "false"
        page.wait_for_selector("table.shared tbody tr", timeout=90_000)  # rows appear
        page.wait_for_selector('#comparison[data-complete="true"]', timeout=120_000)
        assert "8 shared artists" in page.content()
        page.screenshot(path=str(tmp_path / "comparison.png"), full_page=True)

        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if "/compare/" in r.url else None)
        time.sleep(5)
        assert polls == []  # the finished state carries no trigger: polling has stopped

        page.goto(live_app)
        page.click("button:has-text('Refresh followed artists')")
        page.wait_for_selector("text=/waiting to be loaded|Loading your library|is loaded/")
        page.wait_for_selector("text=Your library is loaded", timeout=90_000)

        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
        page.click("button:has-text('Delete my data')")
        page.wait_for_selector("text=Your data is deleted")
        assert dialogs == ["Delete your overlap data?"]
        browser.close()
    assert [url for url in failed if not url.endswith("/favicon.ico")] == []
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
