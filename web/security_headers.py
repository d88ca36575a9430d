"""The headers every answer carries so that a browser holds the pages to what they are.

- A strict Content-Security-Policy: scripts, styles, images and requests from this site
  only, and no inline script or style at all (the templates have none; htmx is loaded
  from /static and told not to inject its indicator style). ``frame-ancestors 'none'``
  and ``X-Frame-Options`` keep the pages out of other sites' frames.
- ``Referrer-Policy: same-origin``: the address of a comparison (a friend code) never
  leaves the site in a Referer.
- HSTS when the app is served over https (``BASE_URL``), never on the plain-http demo.
- ``Cache-Control: no-store`` on what a signed-in person is shown, so a shared computer's
  cache or a proxy keeps no one's library or codes; a route that set its own (the static
  files) keeps it.
"""

from __future__ import annotations

import bottle

from web import context

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000"


def add_security_headers() -> None:
    """Set the headers on ``bottle.response`` (an ``after_request`` hook, and called by the
    error pages, whose answers Bottle builds after the hooks ran)."""
    response = bottle.response
    response.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.set_header("X-Frame-Options", "DENY")
    response.set_header("Referrer-Policy", "same-origin")
    response.set_header("X-Content-Type-Options", "nosniff")
    if context.settings().base_url.startswith("https://"):
        response.set_header("Strict-Transport-Security", HSTS)
    signed_in = bottle.request.environ.get("overlap.user") is not None
    if signed_in and "Cache-Control" not in response.headers:
        response.set_header("Cache-Control", "no-store")
