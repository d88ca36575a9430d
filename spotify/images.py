"""Where Spotify serves pictures: the one other origin a page may load pictures from, and
the only one a worker fetches them from for the share card."""

from __future__ import annotations

from urllib.parse import urlsplit

from config.settings import Settings

# Where Spotify serves artists' pictures (the og:image of an artist page, and the Web
# API's images).
SPOTIFY_IMAGES = "https://i.scdn.co"


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
