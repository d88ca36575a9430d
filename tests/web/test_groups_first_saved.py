"""Who of a group saved each shared artist first (issue 20, items 3 and 4), through the
real routes: the API's ``first`` and the page's words, against a ground truth computed
here from the Python dates the libraries were given."""

from __future__ import annotations

import datetime as dt
import html
import random
import re

from models import Artist, ArtistListeners, UserArtist
from models.artist import ArtistFields
from tests.web.test_compare import both_synced
from tests.web.test_groups import all_artists, join, make_group, people

DAY = dt.datetime(2021, 3, 4, 8, 15)


def give(user, saved: dict[str, dt.datetime | None]) -> None:
    """Give ``user`` these artists: saved on that date (a saved track), or None: followed
    only. Each artist has a listener count, so the group completes."""
    ids = Artist.upsert_many(
        [ArtistFields(f"{n:0>22}"[-22:], n, f"https://open.example/{n}", None, True)
         for n in saved]
    )  # fmt: skip
    by_name = {n: ids[f"{n:0>22}"[-22:]] for n in saved}
    followed = [by_name[n] for n, when in saved.items() if when is None]
    dated = {by_name[n]: when for n, when in saved.items() if when is not None}
    UserArtist.link_many(user.id, followed, "followed")
    UserArtist.link_many(user.id, dated, "saved_track", dated)
    for name, aid in by_name.items():
        ArtistListeners.record(aid, 1000 + sum(map(ord, name)))


def expected_first(dates: list[dt.datetime | None]) -> dict | None:
    """The ground truth: ``dates`` are the joined members' (member n at index n - 1, None
    for no date or not holding it)."""
    dated = sorted((when, n) for n, when in enumerate(dates, start=1) if when is not None)
    if not dated:
        return None
    earliest, first = dated[0]
    same_day = [n for when, n in dated if when.date() == earliest.date()]
    found = {"member": first, "saved_at": earliest.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if len(same_day) > 1:
        found |= {"member": min(same_day), "same_day": sorted(same_day)}
    return found


def libraries(seed: int, count: int, joined: int) -> tuple[list[dict], dict[str, dict | None]]:
    """Random libraries (some saved on dates, some followed only, several on one day), and
    the expected ``first`` of each artist two or more of the first ``joined`` hold."""
    rng = random.Random(seed)
    libs: list[dict[str, dt.datetime | None]] = [{} for _ in range(count)]
    expected = {}
    for n in range(60):
        name = f"artist-{n:02}"
        for lib in libs:
            roll = rng.random()
            if roll < 0.45:
                # Few distinct days, so same-day ties come up often.
                days, hour = rng.randrange(6) * 40, rng.randrange(24)
                lib[name] = DAY + dt.timedelta(days=days, hours=hour - 8)
            elif roll < 0.7:
                lib[name] = None
        holders = [lib for lib in libs[:joined] if name in lib]
        if len(holders) >= 2:
            expected[name] = expected_first([lib.get(name) for lib in libs[:joined]])
    return libs, expected


def test_the_api_names_the_first_saver_of_each_artist_as_python_dates_say(web, demo_spotify):
    crowd = people(web, demo_spotify, 4)
    libs, expected = libraries(seed=20, count=4, joined=3)
    for (_, user), lib in zip(crowd, libs, strict=True):
        give(user, lib)
    # Dmitri, the fourth, saved everything he has years before anyone: invited and never
    # joined, he counts for nothing.
    give(crowd[3][1], {name: DAY.replace(year=2009) for name in expected})
    both_synced(*(user for _, user in crowd))
    path = make_group(crowd[0][0], [user.friend_code for _, user in crowd[1:]])
    join(crowd[1][0], path)
    join(crowd[2][0], path)

    rows = all_artists(crowd[1][0], path)

    assert {r["name"]: r["first"] for r in rows} == expected
    # The checks were not vacuous: each kind of answer came up.
    kinds = {
        "tie": [a for a in expected.values() if a and "same_day" in a],
        "single": [a for a in expected.values() if a and "same_day" not in a],
        "none": [a for a in expected.values() if a is None],
    }
    assert all(len(found) >= 2 for found in kinds.values()), kinds
    assert all(a["member"] in (1, 2, 3) for a in expected.values() if a)
    # A second read, from the cached report, answers the same.
    assert {r["name"]: r["first"] for r in all_artists(crowd[0][0], path)} == expected


def glue_row(page: str, name: str) -> str:
    """The text of the glue's line of the artist called ``name``."""
    glue = re.search(r'<ol class="artists glue"[^>]*>(.*?)</ol>', page, re.S).group(1)
    for row in re.findall(r"<li>(.*?)</li>", glue, re.S):
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
        if text.startswith(f"{name} "):
            return text
    raise AssertionError(f"no glue line for {name!r}")


def test_the_page_says_who_saved_it_first_in_words(web, demo_spotify):
    (ana, ana_user), (ben, ben_user), (cleo, cleo_user), (_, dmitri_user) = people(
        web, demo_spotify, 4
    )
    give(ana_user, {"Tied": DAY.replace(hour=22), "Hers": DAY, "Followed": None, "Bens": DAY,
                    "Three": DAY.replace(hour=23)})  # fmt: skip
    give(ben_user, {"Hers": DAY + dt.timedelta(days=400), "Followed": None,
                    "Bens": DAY - dt.timedelta(days=700),
                    "Three": DAY.replace(hour=1)})  # fmt: skip
    give(cleo_user, {"Tied": DAY.replace(hour=6), "Followed": None, "Three": DAY})
    # Dmitri, invited and never joined, saved "Followed" long before: it stays unsaved.
    give(dmitri_user, {"Followed": DAY.replace(year=2009)})
    both_synced(ana_user, ben_user, cleo_user, dmitri_user)
    path = make_group(ana, [u.friend_code for u in (ben_user, cleo_user, dmitri_user)])
    join(ben, path)
    join(cleo, path)

    page = ana.get(path).text

    assert "You and Cléo saved it the same day, in March 2021" in glue_row(page, "Tied")
    assert "You saved it first, in March 2021" in glue_row(page, "Hers")
    assert "Ben saved it first, in April 2019" in glue_row(page, "Bens")
    assert "You, Ben and Cléo saved it the same day, in March 2021" in glue_row(page, "Three")
    assert "None of you saved it: followed only" in glue_row(page, "Followed")
    # Everyone has "Three" and "Followed": the section above the grid says it too.
    everyone = page.split("<h2>Everyone has", 1)[1].split("<h2>", 1)[0]
    assert everyone.count("first-saved") == 2 and "followed only" in everyone
    # Seen by Ben, "you" is Ben and Ana is named.
    his = ben.get(path).text
    assert "Ana saved it first, in March 2021" in glue_row(his, "Hers")
    assert "You saved it first, in April 2019" in glue_row(his, "Bens")
    assert "Ana, you and Cléo saved it the same day" in glue_row(his, "Three")
