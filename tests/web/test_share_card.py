"""The share card: a PNG of the comparison for its two people only, drawn from the
pictures a worker cached, never fetched by the web process itself."""

from __future__ import annotations

import io
import re
import time
from urllib.parse import urlsplit

from PIL import Image

from models import Picture, User
from models.db import utcnow
from tests.web.comparing import opened
from tests.web.test_compare import both_synced, library


def red_square() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), (255, 0, 0)).save(out, "PNG")
    return out.getvalue()


def a_png(answer) -> Image.Image:
    assert answer.content_type == "image/png"
    return Image.open(io.BytesIO(answer.body))


def test_the_card_is_for_the_two_people_only_and_a_404_for_anyone_else(web, signed_in_web):
    # Given Cleo and Ben comparing, both signed in through the real sign-in.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": 50, "Mine": 10})
    library(ben, {"Shared": 50, "His": 20})
    both_synced(cleo, ben)
    card = f"{opened(web, ben)}/card.png"

    # Then each of the two gets the picture, saved as a download.
    for_cleo = web.get(card)
    assert a_png(for_cleo).size == (1200, 630)
    assert for_cleo.headers["Content-Disposition"].startswith("attachment")
    assert "no-store" in for_cleo.headers["Cache-Control"]
    signed_in_web("ben")
    assert a_png(web.get(f"/with/{cleo.id}/card.png")).size == (1200, 630)

    # And anyone else, signed in or not (a chat's preview bot), gets a 404.
    signed_in_web("dmitri")
    assert web.get(card, status=404).content_type == "text/html"
    assert web.get(f"/with/{cleo.id}/card.png", status=404)
    web.reset()
    bot = {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
    assert web.get(card, headers=bot, status=404)
    assert web.get(f"/with/{cleo.id}/card.png", status=404)


def test_the_card_draws_cached_pictures_and_initials_for_the_rest(web, signed_in_web):
    # Given Cleo's picture cached and Ben's never fetched, on a host the test cannot reach:
    # drawing the card must not try it.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    for user, url in ((cleo, "https://i.scdn.co/image/cleo"), (ben, "https://i.scdn.co/image/ben")):
        User.update(image_url=url, last_synced_at=utcnow()).where(User.id == user.id).execute()
    Picture.keep("https://i.scdn.co/image/cleo", red_square())
    library(cleo, {"Shared": 50})
    library(ben, {"Shared": 50})
    both_synced(cleo, ben)

    started = time.monotonic()
    card = a_png(web.get(f"{opened(web, ben)}/card.png")).convert("RGB")
    assert time.monotonic() - started < 5  # no wait on an unreachable picture host

    # Then Cleo's circle is her picture, and Ben's his initial on a colour of his own.
    assert card.getpixel((145, 145)) == (255, 0, 0)
    assert card.getpixel((260 + 30, 145)) != (255, 0, 0)


def test_the_welcome_page_previews_an_invitation_naming_only_the_inviter(web):
    ben = User.sign_in("ben", "Ben", {})

    welcome = web.get(f"/compare/{ben.friend_code}")
    image = re.search(r'property="og:image" content="([^"]+)"', welcome.text).group(1)

    assert image.endswith(f"/compare/{ben.friend_code}/invite.png")
    picture = web.get(urlsplit(image).path)
    assert a_png(picture).size == (1200, 630)
    assert web.get("/compare/ZZZZZ-ZZZZZ/invite.png", status=404)
