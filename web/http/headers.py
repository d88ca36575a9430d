"""Reading request headers as the client sent them.

Bottle's ``request.get_header`` decodes a header as UTF-8 and raises on any other byte, so
one stray byte in a header the app reads was a 500. The app only compares headers with
ASCII values, so it reads them as WSGI hands them over (Latin-1), which never fails.
"""

from __future__ import annotations

import bottle


def header(request: bottle.BaseRequest, name: str) -> str:
    """The value of the request's header ``name`` as sent, or "" when it has none."""
    return request.environ.get("HTTP_" + name.upper().replace("-", "_"), "")
