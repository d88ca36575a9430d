"""The headers every answer carries so that a browser holds the pages to what they are.

- A strict Content-Security-Policy: scripts, styles and requests from this site only,
  images from it and from Spotify's image host, no inline script at all, and no inline
  style but the site's own stylesheets, each let in by the hash of its text (the pages
  carry ``style.css`` inline, ``web/http/static_files.py``; htmx is loaded from /static
  and told not to inject its indicator style). ``frame-ancestors 'none'``
  and ``X-Frame-Options`` keep the pages out of other sites' frames.
- ``Referrer-Policy: same-origin``: the address of a comparison (a friend code) never
  leaves the site in a Referer.
- HSTS when the app is served over https (``BASE_URL``), never on the plain-http demo.
- ``Cache-Control: no-store`` on what a signed-in person is shown, so a shared computer's
  cache or a proxy keeps no one's library or codes; a route that set its own (the static
  files) keeps it.
"""

from __future__ import annotations

import functools

import bottle

from config.settings import Settings
from spotify.images import SPOTIFY_IMAGES, image_origins
from web.http import request_context

__all__ = ["SPOTIFY_IMAGES", "content_security_policy", "image_origins"]

HSTS = "max-age=31536000"


def content_security_policy(settings: Settings, style_hashes: tuple[str, ...] = ()) -> str:
    """The policy every answer carries; ``style_hashes`` are the inline stylesheets let in."""
    return _policy(image_origins(settings), style_hashes)


@functools.lru_cache(maxsize=8)
def _policy(images_from: frozenset[str], style_hashes: tuple[str, ...]) -> str:
    images = " ".join(["'self'", *sorted(images_from)])
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            " ".join(["style-src 'self'", *style_hashes]),
            f"img-src {images}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def add_security_headers() -> None:
    """Set the headers on ``bottle.response`` (an ``after_request`` hook, and called by the
    error pages, whose answers Bottle builds after the hooks ran)."""
    response = bottle.response
    services = request_context.services()
    response.set_header(
        "Content-Security-Policy",
        content_security_policy(services.settings, services.static.style_hashes),
    )
    response.set_header("X-Frame-Options", "DENY")
    response.set_header("Referrer-Policy", "same-origin")
    response.set_header("X-Content-Type-Options", "nosniff")
    if request_context.settings().base_url.startswith("https://"):
        response.set_header("Strict-Transport-Security", HSTS)
    signed_in = bottle.request.environ.get("overlap.user") is not None
    if signed_in and "Cache-Control" not in response.headers:
        response.set_header("Cache-Control", "no-store")
