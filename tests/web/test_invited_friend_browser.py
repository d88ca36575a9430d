"""The invited friend's path in a real browser, and the people's pages on a phone.

Cléo follows Ben's share link signed out, signs in with the (demo) Spotify, comes back to
a page naming Ben with one button, "Compare with Ben" (nothing shared before she presses
it), and watches the comparison fill in while her own library loads: a bar each for her,
Ben and the listener counts. Then every page a person meets is measured at 390 px: tap
targets of at least 44 × 44 px, text and chart labels of at least 12 px, times written by
the reader's clock. Screenshots go to ``OVERLAP_SCREENSHOTS`` (desktop and phone, light
and dark) when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models import ComparedWith, User
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_OVERFLOW,
    live_app,  # noqa: F401  (a fixture)
)
from tests.web.test_people_browser import check_everywhere

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: .ci/run installs it"),
]

# What a finger presses on the people's pages (the list: sort links, Sign out,
# the grid's names, Remove, buttons and fields; the pager and the people list too).
PRESSED = (
    "button:not([hidden]), input:not([type=hidden]), select, .sorts a, .pager a, .tile-name,"
    " .people-list a.person, header.site a, .button"
)
# How many targets were measured, and those under 44 × 44 px.
SMALL_TARGETS = f"""
(() => {{
  const shown = [...document.querySelectorAll({PRESSED!r})]
    .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden');
  return [shown.length, shown
    .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()])
    .filter(([, r]) => r.width < 44 || r.height < 44)
    .map(([html, r]) => `${{html}} ${{Math.round(r.width)}}x${{Math.round(r.height)}}`)];
}})()
"""
# Every piece of visible text smaller than 12 px on screen: HTML by its computed size,
# SVG text by its size times the SVG's scale on the screen.
SMALL_TEXT = """
(() => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el.getClientRects().length) continue;
    if (el.closest('.visually-hidden, title, [hidden]')) continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    const svgText = el.closest('text');
    if (svgText) size *= svgText.getScreenCTM().a;
    if (size < 12) small.push(`${node.textContent.trim().slice(0, 30)} ${size.toFixed(1)}px`);
  }
  return small;
})()
"""


SHOTS = os.environ.get("OVERLAP_SCREENSHOTS")


def view_shots(page, name: str) -> None:
    """What the screen shows now, desktop and phone, light and dark, when asked for."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 844})
            page.screenshot(path=str(Path(SHOTS) / f"{name}-{scheme}-{width}.png"))
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 844})


def measure_at_phone_width(browser, storage_state, base: str, path: str) -> None:
    """``path`` at 390 px: no tap target under 44 × 44, no text under 12 px."""
    context = browser.new_context(
        storage_state=storage_state, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.goto(f"{base}{path}")
    assert page.evaluate(NO_OVERFLOW), path
    measured, small = page.evaluate(SMALL_TARGETS)
    assert measured >= 2 and small == [], (path, measured, small)
    assert page.evaluate(SMALL_TEXT) == [], path
    context.close()


@pytest.mark.timeout(900)
def test_an_invited_friend_signs_in_from_the_link_presses_one_button_and_sees_it_fill_in(
    live_app,  # noqa: F811
    sign_in,
    demo_spotify,
):  # A whole path and 12 checked views: minutes on the loaded 2-core machine.
    from playwright.sync_api import sync_playwright

    ben = sign_in("ben")  # the inviter: signed in once, his library not loaded yet
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # A visitor in Tokyo: the page's times are written by her clock, not the server's.
        context = browser.new_context(timezone_id="Asia/Tokyo")
        page = context.new_page()
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        # A failed load is reported without its address; the answers say which one it was.
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        visited: list[str] = []
        page.on("framenavigated", lambda f: visited.append(f.url) if f == page.main_frame else None)

        # Signed out, the share link welcomes her, and signing in comes back to it.
        page.goto(f"{live_app}/compare/{ben.friend_code}")
        assert page.inner_text("h1") == "Ben wants to compare music with you"
        demo_spotify.set_faults(latency_ms=150)  # her library loads while she looks
        page.click("text=Sign in with Spotify to compare")
        page.click("text=Cléo")  # the demo Spotify's consent page
        page.wait_for_url(f"{live_app}/compare/{ben.friend_code}", timeout=90_000)
        cleo = User.get(User.spotify_id == "cleo")

        # A page naming Ben, with one button; nothing is shared before she presses it.
        assert page.inner_text("h1") == "Compare with Ben?"
        assert "Ben invited you" in page.inner_text("main")
        assert page.locator("main button").all_inner_texts() == ["Compare with Ben"]
        assert not ComparedWith.can_see(cleo, ben) and not ComparedWith.can_see(ben, cleo)
        assert not any("/loading" in url for url in visited), visited
        view_shots(page, "ask")

        page.click("button:has-text('Compare with Ben')")
        page.wait_for_url(f"{live_app}/with/{ben.id}*")
        assert ComparedWith.can_see(cleo, ben) and ComparedWith.can_see(ben, cleo)
        # It fills in while the libraries load: a bar each, with words.
        assert page.get_attribute("#comparison", "data-complete") == "false"
        rows = page.locator(".progress-people li")
        assert rows.count() == 3
        labels = [rows.nth(i).locator(".who-label").inner_text() for i in range(3)]
        assert labels == ["You", "Ben", "Listener counts"]
        assert page.locator(".progress-people progress").count() == 3
        view_shots(page, "filling")
        demo_spotify.set_faults(latency_ms=0)
        page.wait_for_selector("#comparison[data-complete=true]", timeout=120_000)
        assert page.inner_text("#comparison-status").startswith("Up to date")
        assert page.locator(".progress-people").count() == 0
        view_shots(page, "complete")
        assert not any("/loading" in url for url in visited), visited

        # Her own page: the time Ben appeared on her list is written by her clock.
        page.goto(live_app)
        shown = page.inner_text(".people-list time")
        stamp = page.get_attribute(".people-list time", "datetime")
        local = page.evaluate(
            "s => new Intl.DateTimeFormat(undefined, {day: 'numeric', month: 'short',"
            " year: 'numeric'}).format(new Date(s))",
            stamp,
        )
        assert shown == local and "UTC" not in shown
        # No console error on overlap's pages (the favicon's 404 was one); the demo
        # Spotify's consent page is not ours.
        assert [url for url in failed if url.startswith(live_app)] == []
        assert [e for e in errors if not e.startswith("Failed to load resource")] == []

        # Every page a person meets, on a phone: big enough to press and to read.
        signed_in = context.storage_state()
        comparison = page.evaluate("path => fetch(path).then(r => r.text())", f"/with/{ben.id}")
        artist_path = comparison.split('class="tile-name" href="', 1)[1].split('"', 1)[0]
        for path in (
            "/",
            f"/with/{ben.id}",
            f"/with/{ben.id}/only-you",
            artist_path.replace("&amp;", "&"),
        ):
            measure_at_phone_width(browser, signed_in, live_app, path)
        for path in ("/", f"/compare/{cleo.friend_code}"):  # the landing and welcome pages
            measure_at_phone_width(browser, None, live_app, path)
        check_everywhere(browser, page, f"/with/{ben.id}", "comparison", live_app)
        check_everywhere(browser, page, "/", "home", live_app)
        signed_out = browser.new_page()
        check_everywhere(browser, signed_out, f"/compare/{ben.friend_code}", "welcome", live_app)
        signed_out.goto(f"{live_app}/")
        view_shots(signed_out, "landing-top")
        browser.close()
