"""The access model in a real browser: a friend code's link asks before anything is
shared, its button lets both in, and "Your people" says who sees what, on a phone and a
desktop, light and dark, with no serious axe-core finding.

Screenshots go to ``OVERLAP_SCREENSHOTS`` when it is set, to look at by eye."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models import ComparedWith, User
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_OVERFLOW,
    axe_problems,
    live_app,  # noqa: F401  (a fixture)
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: .ci/run installs it"),
]
SHOTS = os.environ.get("OVERLAP_SCREENSHOTS")


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def check_everywhere(
    browser, page, path: str, name: str, base: str, part: str | None = None
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


def test_a_code_s_link_asks_first_and_your_people_says_who_sees_what(
    live_app,  # noqa: F811
    sign_in,
):
    from playwright.sync_api import sync_playwright

    ben = sign_in("ben")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(live_app)
        page.click("text=Sign in with Spotify")
        page.click("text=Cléo")
        page.wait_for_url(f"{live_app}/", timeout=90_000)
        cleo = User.get(User.spotify_id == "cleo")

        # Following Ben's link: a question, nothing shared yet.
        page.goto(f"{live_app}/compare/{ben.friend_code}")
        assert page.inner_text("h1") == "Compare with Ben?"
        assert "lets Ben see yours" in page.inner_text("main")
        assert not ComparedWith.can_see(cleo, ben) and not ComparedWith.can_see(ben, cleo)
        check_everywhere(browser, page, f"/compare/{ben.friend_code}", "ask", live_app)

        # Its button lets both in, and lands on the comparison.
        page.click("button:has-text('Compare with Ben')")
        page.wait_for_url(f"{live_app}/with/{ben.id}*")
        assert ComparedWith.can_see(cleo, ben) and ComparedWith.can_see(ben, cleo)

        # Your people says it plainly, and offers to stop sharing.
        page.goto(live_app)
        people = page.inner_text("section.people")
        assert "Ben can see your library." in people
        assert page.is_visible("button:has-text('Stop sharing')")
        check_everywhere(browser, page, "/", "people", live_app, part="section.people")

        page.click("button:has-text('Stop sharing')")
        page.wait_for_url(f"{live_app}/")
        assert "Ben cannot see your library." in page.inner_text("section.people")
        assert not ComparedWith.can_see(ben, cleo)
        browser.close()
