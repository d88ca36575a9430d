"""Who saved it first, in a real browser: the words under each shared artist's name read
well on a phone and a desktop, light and dark, with no overflow and no serious axe-core
finding. Screenshots of the shared table go to ``OVERLAP_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import datetime as dt

import pytest

from models import Artist, ComparedWith, User, UserArtist
from models.artist import ArtistFields
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, live_app  # noqa: F401
from tests.web.test_people_browser import check_everywhere

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: .ci/run installs it"),
]
DAY = dt.datetime(2021, 3, 4, 8, 15)


def test_the_first_saver_reads_well_everywhere(live_app, sign_in):  # noqa: F811
    from playwright.sync_api import sync_playwright

    ana = User.sign_in("ana-test", "Ana", {})
    names = ("Tied Together", "Followed Only", "Found By You", "Found By Ana")
    ids = Artist.upsert_many(
        [ArtistFields(f"{n.replace(' ', ''):0>22}", n, "https://open.example/a", None, True)
         for n in names]
    )  # fmt: skip
    tied, followed, mine, hers = (ids[f"{n.replace(' ', ''):0>22}"] for n in names)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(live_app)
        page.click("text=Sign in with Spotify")
        page.click("text=Cléo")
        page.wait_for_url(f"{live_app}/", timeout=90_000)
        cleo = User.get(User.spotify_id == "cleo")
        for person in (cleo, ana):
            UserArtist.link_many(person.id, [followed], "followed")
        UserArtist.link_many(cleo.id, [tied, mine, hers], "saved_track",
                             {tied: DAY, mine: DAY, hers: DAY})  # fmt: skip
        UserArtist.link_many(ana.id, [tied, mine, hers], "saved_album",
                             {tied: DAY.replace(hour=3), mine: DAY + dt.timedelta(days=90),
                              hers: DAY - dt.timedelta(days=400)})  # fmt: skip
        ComparedWith.let_in(cleo, ana)

        page.goto(f"{live_app}/with/{ana.id}?sort=name")
        rows = page.locator("table.shared tbody tr").all_inner_texts()
        assert [" ".join(row.split()[:2]) for row in rows] == sorted(
            " ".join(n.split()[:2]) for n in names
        )
        said = dict(zip(sorted(names), rows, strict=True))
        assert "You both saved it the same day, in March 2021" in said["Tied Together"]
        assert "Neither of you saved it: followed only" in said["Followed Only"]
        assert "You saved it first, in March 2021" in said["Found By You"]
        assert "Ana saved it first, in January 2020" in said["Found By Ana"]
        check_everywhere(
            browser, page, f"/with/{ana.id}?sort=name", "first-saved", live_app,
            part="table.shared",
        )  # fmt: skip
        browser.close()
