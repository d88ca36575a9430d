"""Where Spotify serves pictures: the one other origin a page may load pictures from, and
the only one a worker fetches them from for the share card."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from config.settings import Settings

# Where Spotify serves artists' pictures (the og:image of an artist page, and the Web
# API's images).
SPOTIFY_IMAGES = "https://i.scdn.co"

# An artist's picture comes in three widths, which Spotify names by the same 24-digit hash
# behind a prefix that says the width; the 640 one is what the artist page's og:image and
# the Web API's largest image give. The demo Spotify names the width in its path.
ARTIST_WIDTHS = {"e5eb": 640, "5174": 320, "f178": 160}
_SPOTIFY_ARTIST = re.compile(
    r"(https://i\.scdn\.co/image/ab6761610000)(e5eb|5174|f178)([0-9a-f]{24})"
)
_DEMO_ARTIST = re.compile(r"(https?://[^/]+/open/image/[A-Za-z0-9]+/)(640|320|160)(\.jpg)")


def image_origins(settings: Settings) -> frozenset[str]:
    """The origins, besides the site's own, that artists' pictures may come from: Spotify's
    image host, and the demo Spotify's own host in demo mode (it draws its pictures)."""
    origins = {SPOTIFY_IMAGES}
    if settings.demo:
        parts = urlsplit(settings.spotify_open_url)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return frozenset(origins)


def from_image_origin(url: str | None, settings: Settings) -> bool:
    """Whether ``url`` is an http(s) picture on one of ``image_origins``."""
    if not url:
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    return f"{parts.scheme}://{parts.netloc}" in image_origins(settings)


def artist_picture_widths(url: str) -> dict[int, str]:
    """The addresses of the same artist picture at each width Spotify (or the demo) serves,
    by width; empty for an address of another shape, which is then used as it is."""
    if spotify := _SPOTIFY_ARTIST.fullmatch(url):
        head, _, digest = spotify.groups()
        return {width: f"{head}{code}{digest}" for code, width in ARTIST_WIDTHS.items()}
    if demo := _DEMO_ARTIST.fullmatch(url):
        head, _, tail = demo.groups()
        return {width: f"{head}{width}{tail}" for width in ARTIST_WIDTHS.values()}
    return {}
