"""Who saved it first, in a real browser: the words under each shared artist's name read
well on a phone and a desktop, light and dark, with no overflow and no serious axe-core
finding. Screenshots of the shared table go to ``OVERLAP_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import datetime as dt

from models import Artist, ComparedWith, User, UserArtist
from models.artist import ArtistFields
from tests.web.browser_helpers import BROWSER_TESTS, check_everywhere, signed_in_browser

pytestmark = BROWSER_TESTS
DAY = dt.datetime(2021, 3, 4, 8, 15)


def test_the_first_saver_reads_well_everywhere(live_app, sign_in):
    ana = User.sign_in("ana-test", "Ana", {})
    names = ("Tied Together", "Followed Only", "Found By You", "Found By Ana")
    ids = Artist.upsert_many(
        [ArtistFields(f"{n.replace(' ', ''):0>22}", n, "https://open.example/a", None, True)
         for n in names]
    )  # fmt: skip
    tied, followed, mine, hers = (ids[f"{n.replace(' ', ''):0>22}"] for n in names)
    with signed_in_browser(live_app) as (browser, page):
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
