"""The comparison page in a real browser, as it fills in with a real worker: calm (the
layout shifts the person did not cause add up to under 0.05 from first paint until the
page is complete, on a phone and a desktop), tiles of one size, a verdict only outside the
noise, and a share card that only the two people get.

Screenshots go to ``OVERLAP_SCREENSHOTS`` when it is set, to look at by eye."""

from __future__ import annotations

import pytest

from config.redis_ref import RedisRef
from models import ArtistListeners, User, current_month
from models.db import database
from sync.library_stamps import LibraryStamps
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LAYOUT_SHIFTS,
    SHIFT_SOURCES,
    live_app,  # noqa: F401  (a fixture)
)
from tests.web.test_people_browser import SHOTS, check_everywhere

pytestmark = [
    pytest.mark.browser,
    # Each fill waits for every count of a library ("Up to date"), on a busy machine.
    pytest.mark.timeout(900),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: .ci/run installs it"),
]
# Both the desktop and the phone must stay under this (issue 23: the review measured 0.108).
SHIFT_LIMIT = 0.05


def sign_in_as(browser, base: str, name: str, width: int):
    """A page of a new browser context signed in as the demo person ``name``."""
    context = browser.new_context(viewport={"width": width, "height": 844 if width < 600 else 800})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.add_init_script(LAYOUT_SHIFTS)
    page.add_init_script(SHIFT_SOURCES)
    page.goto(base)
    page.click("text=Sign in with Spotify")
    page.click(f"text={name}")
    page.wait_for_url(f"{base}/", timeout=120_000)
    return page


def fill_and_measure(page, friend: User) -> float:
    """Type ``friend``'s code, watch the comparison fill in until it is complete; the sum of
    the layout shifts not caused by input, from first paint on."""
    page.fill("input[name=friend_code]", friend.friend_code)
    page.click("button:has-text('Compare')")
    page.wait_for_url(f"**/with/{friend.id}*")
    assert page.get_attribute("#comparison", "data-complete") == "false"
    page.wait_for_selector("#comparison[data-complete=true]", timeout=240_000)
    page.wait_for_timeout(500)  # the last swap settles
    return page.evaluate("window.__layoutShift")


def tile_sizes(page) -> set[tuple[int, int]]:
    boxes = page.eval_on_selector_all(
        ".grid .tile", "ts => ts.map(t => [Math.round(t.getBoundingClientRect().width),"
        " Math.round(t.getBoundingClientRect().height)])",
    )  # fmt: skip
    return {tuple(b) for b in boxes}


@pytest.mark.parametrize(
    ("width", "who", "friend"), [(390, "Dmitri", "ben"), (1280, "Cléo", "ben")]
)
def test_the_page_fills_in_calmly_with_tiles_of_one_size(
    live_app,  # noqa: F811
    sign_in,
    width,
    who,
    friend,
):
    from playwright.sync_api import sync_playwright

    other = sign_in(friend)  # never synced: the page waits for their whole library
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = sign_in_as(browser, live_app, who, width)

        shift = fill_and_measure(page, other)

        print(f"cumulative layout shift {shift:.4f} at {width} px")  # the figure, with -s
        shifts = page.evaluate("window.__shifts")
        assert shift < SHIFT_LIMIT, f"cumulative layout shift {shift:.3f} at {width} px: {shifts}"
        assert page.inner_text("#comparison-status").startswith("Up to date")
        assert len(tile_sizes(page)) <= 1, tile_sizes(page)
        # The finished box holds the card's link: no empty band is left above the ring.
        band = page.eval_on_selector(
            "#comparison-progress",
            "e => e.getBoundingClientRect().bottom"
            " - e.lastElementChild.getBoundingClientRect().bottom",
        )
        assert page.is_visible("#comparison-progress a[download]") and band < 16, band
        if SHOTS:
            check_everywhere(browser, page, f"/with/{other.id}", f"compare-{friend}", live_app)
        browser.close()


def test_the_card_is_for_the_two_only_and_close_medians_give_no_verdict(
    live_app,  # noqa: F811
    sign_in,
    broker,
    app_settings,
):
    from playwright.sync_api import sync_playwright

    sign_in("dmitri")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        cleo = sign_in_as(browser, live_app, "Cléo", 1280)
        dmitri = User.get(User.spotify_id == "dmitri")
        fill_and_measure(cleo, dmitri)
        href = cleo.get_attribute("a[download]", "href")
        assert cleo.inner_text("a[download]") == "Save image"

        # Cléo saves it as a download; Dmitri, signed in, gets it too.
        with cleo.expect_download() as saving:
            cleo.click("a[download]")
        assert saving.value.suggested_filename.endswith(".png")
        if SHOTS:
            saving.value.save_as(f"{SHOTS}/share-card.png")
        card = cleo.request.get(f"{live_app}{href}")
        assert (card.status, card.headers["content-type"]) == (200, "image/png")
        cleo_id = User.get(User.spotify_id == "cleo").id
        own = sign_in_as(browser, live_app, "Dmitri", 390)
        assert own.request.get(f"{live_app}/with/{cleo_id}/card.png").status == 200

        # Emma, signed in but not one of the two, and anyone signed out: 404.
        emma = sign_in_as(browser, live_app, "Emma", 390)
        assert emma.request.get(f"{live_app}{href}").status == 404
        stranger = browser.new_context().new_page()
        assert stranger.request.get(f"{live_app}{href}").status == 404

        # Given this month's counts remade so that the two medians are within 25 % of each
        # other (every count 1,000 to 1,099), and the comparison's cache told.
        # (peewee's % is LIKE: the remainder is written out, the same on both databases.)
        artist = ArtistListeners.artist
        ArtistListeners.update(monthly_listeners=1_000 + artist - artist / 100 * 100).where(
            ArtistListeners.month == current_month()
        ).execute()
        # The people's copies of the counts follow, as ArtistListeners.record keeps them.
        database.execute_sql(
            'UPDATE "held_count" SET "monthly_listeners" = (SELECT "l"."monthly_listeners" '
            'FROM "artist_listeners" AS l WHERE "l"."artist_id" = "held_count"."artist_id" '
            'AND "l"."month" = "held_count"."month")'
        )
        ref = RedisRef.from_settings(
            app_settings.but(redis_namespace=broker.namespace), broker.client
        )
        LibraryStamps(ref).touch([cleo_id, dmitri.id])
        cleo.reload()

        # Then the page gives both medians and no verdict: "about the same".
        row = cleo.inner_text("tr:has-text('Median monthly listeners')")
        mine, theirs = (int(n.replace(",", "")) for n in row.split("\t")[1:3])
        assert max(mine, theirs) <= 1.25 * min(mine, theirs)
        verdict = cleo.inner_text(".verdict")
        assert "about the same" in verdict and "underground" not in verdict
        browser.close()
