"""Who saved each shared artist first, as the two-person page and /api/compare say it,
against the demo Spotify's own dates and hand-made libraries."""

from __future__ import annotations

import datetime as dt
import html
import re

from actors.testing import job_finished, wait_for
from jobs import queueing
from models import Artist, JobRun, User, UserArtist
from models.artist import ArtistFields
from models.job_run import user_subject
from tests.web.comparing import opened


def synced(web, signed_in_web, spotify_id: str) -> User:
    """Sign the demo user in through the real routes and wait for their real sync."""
    signed_in_web(spotify_id)
    user = User.get(User.spotify_id == spotify_id)
    job = JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))
    assert wait_for(job_finished(job.id), 120, f"{spotify_id}'s sync").status == "succeeded"
    return user


def row_of(page: str, name: str) -> str:
    """The text of the shared table's row of the artist called ``name``."""
    table = re.search(r'<table class="shared">(.*?)</table>', page, re.S).group(1)
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", " ", row))
        if f" {name} " in f" {' '.join(text.split())} ":
            return " ".join(text.split())
    raise AssertionError(f"no row for {name!r}")


def test_each_shared_artist_names_its_first_saver_as_the_demo_dates_say(
    web, signed_in_web, worker, demo_spotify
):
    catalog = demo_spotify.catalog
    ben = synced(web, signed_in_web, "ben")
    synced(web, signed_in_web, "cleo")  # the one signed in from here on
    opened(web, ben)

    shared = web.get(f"/api/compare/{ben.friend_code}", params={"limit": 200}).json["shared"]

    sources = ("followed", "saved_track", "saved_album")
    mine = set().union(*(catalog.expected_artist_ids("cleo", s) for s in sources))
    theirs = set().union(*(catalog.expected_artist_ids("ben", s) for s in sources))
    assert {a["spotify_id"] for a in shared} == mine & theirs
    my_dates, their_dates = catalog.first_saved_at("cleo"), catalog.first_saved_at("ben")
    for artist in shared:
        dated = sorted(
            (when, who)
            for who, dates in (("you", my_dates), ("friend", their_dates))
            if (when := dates.get(artist["spotify_id"]))
        )
        if not dated:
            assert artist["first"] is None, artist
            continue
        same_day = len(dated) == 2 and dated[0][0][:10] == dated[1][0][:10]
        expected = {"who": dated[0][1], "saved_at": dated[0][0], "same_day": same_day}
        assert artist["first"] == expected, artist["name"]


DAY = dt.datetime(2021, 3, 4, 8, 15)


def test_the_page_says_it_in_words_ties_and_follows_included(web, signed_in_web):
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    ana = User.sign_in("ana-test", "Ana", {})
    ids = Artist.upsert_many(
        [ArtistFields(f"{n:0>22}", n, f"https://open.example/{n}", None, True)
         for n in ("Tied", "Followed", "Mine", "Hers")]
    )  # fmt: skip
    tied, followed, mine, hers = (ids[f"{n:0>22}"] for n in ("Tied", "Followed", "Mine", "Hers"))
    for person in (cleo, ana):
        UserArtist.link_many(person.id, [followed], "followed")
    UserArtist.link_many(cleo.id, [tied, mine, hers], "saved_track",
                         {tied: DAY.replace(hour=22), mine: DAY, hers: DAY})  # fmt: skip
    UserArtist.link_many(ana.id, [tied, mine, hers], "saved_album",
                         {tied: DAY.replace(hour=6), mine: DAY + dt.timedelta(days=300),
                          hers: DAY - dt.timedelta(days=700)})  # fmt: skip

    # By name: the table lists every shared artist (rarest first, the 12 rarest are pictures).
    page = web.get(opened(web, ana) + "?sort=name", status=(200, 286)).text
    api = {a["name"]: a["first"] for a in web.get(f"/api/compare/{ana.friend_code}").json["shared"]}

    assert "You both saved it the same day, in March 2021" in row_of(page, "Tied")
    assert api["Tied"] == {"who": "friend", "saved_at": "2021-03-04T06:15:00Z", "same_day": True}
    assert "Neither of you saved it: followed only" in row_of(page, "Followed")
    assert api["Followed"] is None
    assert "You saved it first, in March 2021" in row_of(page, "Mine")
    assert api["Mine"] == {"who": "you", "saved_at": "2021-03-04T08:15:00Z", "same_day": False}
    assert "Ana saved it first, in April 2019" in row_of(page, "Hers")
    assert api["Hers"] == {"who": "friend", "saved_at": "2019-04-04T08:15:00Z", "same_day": False}
