"""The pictures a share card shows, fetched by a worker and kept small (models/picture.py).

The share card is drawn by the web process within a request, which must never wait on a
picture host; so when a comparison is opened, the page sends ``cache_pictures`` and a
worker fetches the two people's pictures and those of the card's shared artists, once
each. A picture not held yet is drawn as initials.

Only Spotify's image host (or the demo's, in demo mode) is asked, the same origins the
pages may load pictures from: an address read from Spotify never points the worker at
another host. Each answer is read up to ``MAX_BYTES`` and decoded with Pillow, whose
decompression-bomb guard refuses a picture of absurd size.
"""

from __future__ import annotations

import io
import logging

import requests
from PIL import Image, ImageOps

from config.settings import Settings
from models import Picture, User, current_month
from models.comparison import compare
from spotify.images import from_image_origin

log = logging.getLogger(__name__)

# The shared artists a card shows: the rarest ones with a count.
CARD_ARTISTS = 5
# Pictures are kept as squares this wide: the largest the card draws them.
SIZE = 200
MAX_BYTES = 4 * 1024 * 1024
TIMEOUT_S = 10
# Pillow refuses anything bigger (a real Spotify picture is at most 640 × 640).
Image.MAX_IMAGE_PIXELS = 4096 * 4096


def card_picture_urls(me: User, friend: User, month: str) -> list[str | None]:
    """The addresses of every picture the card of ``me`` and ``friend`` shows."""
    shared = compare(me, friend, month, limit=CARD_ARTISTS, top_only=0).shared
    return [me.image_url, friend.image_url, *(a.image_url for a in shared)]


def small_picture(data: bytes) -> bytes | None:
    """``data`` as a ``SIZE`` square PNG, or None when it is not a picture Pillow reads."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            square = ImageOps.fit(picture.convert("RGB"), (SIZE, SIZE))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    out = io.BytesIO()
    square.save(out, "PNG", optimize=True)
    return out.getvalue()


def _download(session: requests.Session, url: str) -> bytes | None:
    """The body at ``url``, or None when it answered no picture; raises on a network error."""
    with session.get(url, timeout=TIMEOUT_S, stream=True, allow_redirects=False) as answer:
        if answer.status_code != 200:
            return None
        body = answer.raw.read(MAX_BYTES + 1, decode_content=True)
    return body if len(body) <= MAX_BYTES else None


def cache_pictures(settings: Settings, me_id: int, friend_id: int) -> int:
    """Fetch the card's pictures that are not held yet; how many were stored.

    A network error leaves the picture unrecorded, so the next open tries it again; an
    answer that is not a picture is recorded as none and not asked again.
    """
    me, friend = User.get_or_none(id=me_id), User.get_or_none(id=friend_id)
    if me is None or friend is None:
        return 0
    urls = card_picture_urls(me, friend, current_month())
    stored = 0
    with requests.Session() as session:
        for url in Picture.missing(u for u in urls if from_image_origin(u, settings)):
            try:
                body = _download(session, url)
            except requests.RequestException as error:
                log.warning("picture %s not fetched: %s", url, error)
                continue
            Picture.keep(url, small_picture(body) if body is not None else None)
            stored += 1
    return stored
