"""The access model in a real browser: a friend code's link asks before anything is
shared, its button lets both in, and "Your people" says who sees what, on a phone and a
desktop, light and dark, with no serious axe-core finding.

Screenshots go to ``OVERLAP_SCREENSHOTS`` when it is set, to look at by eye."""

from __future__ import annotations

from models import ComparedWith, User
from tests.web.browser_helpers import (  # noqa: F401  (SHOTS re-exported)
    BROWSER_TESTS,
    SHOTS,
    check_everywhere,
    signed_in_browser,
)

pytestmark = BROWSER_TESTS


def test_a_code_s_link_asks_first_and_your_people_says_who_sees_what(live_app, sign_in):
    ben = sign_in("ben")
    with signed_in_browser(live_app) as (browser, page):
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
