"""The share card's pictures: fetched by a real worker from the demo Spotify when a
comparison is opened, kept small, and never fetched from a host the pages may not load."""

from __future__ import annotations

import io
import time

from PIL import Image

from models import Artist, Picture, User
from sync.pictures import SIZE, cache_pictures
from tests.web.comparing import opened
from tests.web.test_compare import both_synced, library


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)


def test_opening_a_comparison_has_a_worker_cache_both_people_s_pictures(web, signed_in_web, worker):
    # Given Cleo and Ben signed in through the demo, whose profiles have pictures.
    signed_in_web("ben")
    signed_in_web("cleo")
    cleo, ben = (User.get(User.spotify_id == who) for who in ("cleo", "ben"))
    assert cleo.image_url and ben.image_url
    library(cleo, {"Shared": 50})
    library(ben, {"Shared": 50})
    both_synced(cleo, ben)

    # When Cleo opens the comparison, a worker fetches the pictures (the page does not).
    web.get(opened(web, ben))
    wait_for(lambda: len(Picture.cached([cleo.image_url, ben.image_url])) == 2)

    # Then each is kept as a small square PNG.
    for data in Picture.cached([cleo.image_url, ben.image_url]).values():
        with Image.open(io.BytesIO(data)) as picture:
            assert (picture.format, picture.size) == ("PNG", (SIZE, SIZE))


def test_pictures_are_fetched_once_and_only_from_the_image_hosts(
    app_settings, sign_in, demo_spotify
):
    cleo, ben = sign_in("cleo"), sign_in("ben")
    good = f"{demo_spotify.base_url}/open/image/cleo/300.jpg"
    missing = f"{demo_spotify.base_url}/open/image/nobody/300.jpg"
    elsewhere = "http://127.0.0.1:9/open/image/ben/300.jpg"  # not an image host
    for user, url in ((cleo, good), (ben, elsewhere)):
        User.update(image_url=url).where(User.id == user.id).execute()
    library(cleo, {"Shared": 50})
    library(ben, {"Shared": 50})
    Artist.update(image_url=missing).execute()

    assert cache_pictures(app_settings, cleo.id, ben.id) == 2  # the good one and the 404
    assert set(Picture.cached([good, missing, elsewhere])) == {good}
    assert Picture.missing([good, missing, elsewhere]) == [elsewhere]
    assert cache_pictures(app_settings, cleo.id, ben.id) == 0  # nothing asked twice
