"""A group in a real browser: started by typing codes, filled in once the friends join,
on a phone and a desktop, light and dark, with no serious axe-core finding, and the same
state without JavaScript.

Screenshots go to ``OVERLAP_SCREENSHOTS`` when it is set, to look at by eye."""

from __future__ import annotations

from itertools import zip_longest

from models import Group, User, UserArtist
from models.db import utcnow
from tests.web.browser_helpers import BROWSER_TESTS, check_everywhere, signed_in_browser
from tests.web.test_compare import library

pytestmark = BROWSER_TESTS


def friends_with_some_of(cleo: User, *names: str) -> list[User]:
    """Demo people holding some of Cléo's artists and a few of their own, synced."""
    sources: dict[int, set[str]] = {}
    links = UserArtist.select(UserArtist.artist, UserArtist.source).where(
        UserArtist.user == cleo.id).tuples()  # fmt: skip
    for artist, source in links:
        sources.setdefault(artist, set()).add(source)
    followed_only = sorted(a for a, held in sources.items() if held == {"followed"})
    saved = sorted(a for a, held in sources.items() if held != {"followed"})
    # Taking turns, so that the artists both friends hold include some she saved and some
    # she only follows, whatever order her sync stored its first pages in (their ids).
    hers = [a for pair in zip_longest(followed_only, saved) for a in pair if a is not None]
    friends = []
    for n, name in enumerate(names):
        friend = User.sign_in(name, name.title(), {})
        UserArtist.link_many(friend.id, hers[n * 7 : n * 7 + 40], "followed")
        library(friend, {f"{name} own {i}": 100 * (i + 1) for i in range(6)})
        User.update(last_synced_at=utcnow()).where(User.id == friend.id).execute()
        friends.append(User.get_by_id(friend.id))
    return friends


def test_a_group_fills_in_once_friends_join_everywhere(live_app):
    with signed_in_browser(live_app) as (browser, page):
        cleo = User.get(User.spotify_id == "cleo")
        ben, dmitri = friends_with_some_of(cleo, "ben", "dmitri")

        # Typing the two codes invites them: the group shows their names only.
        page.fill("#group-codes", f"{ben.friend_code}, {dmitri.friend_code}")
        page.click("#group-form button[type=submit]")
        page.wait_for_url(f"{live_app}/groups/*")
        path = page.url.removeprefix(live_app)
        assert page.inner_text("main").count("invited, not joined yet") == 2
        assert "ben own" not in page.inner_text("main")
        check_everywhere(browser, page, path, "group-invited", live_app)

        # Once both join (their own POST, tested in test_groups.py), it fills in.
        group = Group.get(Group.key == path.rsplit("/", 1)[1])
        group.join(ben)
        group.join(dmitri)
        page.goto(f"{live_app}{path}")
        page.wait_for_selector("#group[data-complete=true]", timeout=90_000)
        main = page.inner_text("main")
        assert "Match grid" in main and "ben own" in main and "Best match:" in main
        # Who saved each shared artist first, in words (Ben and Dmitri only follow).
        assert "You saved it first, in " in main and "None of you saved it: followed only" in main
        check_everywhere(browser, page, path, "group", live_app)

        # Without JavaScript the page shows the same state.
        still = browser.new_context(
            java_script_enabled=False, storage_state=page.context.storage_state()
        )
        plain = still.new_page()
        plain.goto(f"{live_app}{path}")
        assert plain.inner_text("#group") == page.inner_text("#group")
        still.close()

        # A cell of the grid opens the pair's view inside the group.
        cell = page.locator("table.match-grid td a").first.get_attribute("href")
        assert cell is not None and cell.startswith(f"{path}/pairs/")
        page.goto(f"{live_app}{cell}")
        assert "shared artists" in page.inner_text("main")
        check_everywhere(browser, page, cell, "group-pair", live_app)
