"""Refusing request bodies the app has no use for, before reading a byte of them.

Every form of the app is a CSRF token and a field or two, and no route takes a file, so a
body over ``MAX_BODY_BYTES``, any multipart body and a body of unknown length are refused
from the request's headers alone: a 30 MB upload to ``/logout`` used to be read whole
before the CSRF check refused it. (What is left unread the server discards, without
handing it to the app: waitress and gunicorn both do.)
"""

from __future__ import annotations

import bottle

from web.http import request_context

# The largest form is a CSRF token and a friend code: about a hundred bytes.
MAX_BODY_BYTES = 16 * 1024


def body_refusal(environ: dict) -> tuple[int, str] | None:
    """None when the body may be read, else (status, why not)."""
    content_type = environ.get("CONTENT_TYPE", "").strip().lower()
    if content_type.startswith("multipart/"):
        return 413, "overlap takes no files or multipart forms"
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return 411, "a request body must say its length"
    raw = environ.get("CONTENT_LENGTH", "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()):
        return 400, "the request's Content-Length is not a number"
    if int(raw) > MAX_BODY_BYTES:
        return 413, "the request body is too large"
    return None


def refuse_unwanted_bodies() -> None:
    """A ``before_request`` hook: raise the refusal of a body the app will not read."""
    refusal = body_refusal(bottle.request.environ)
    if refusal is None:
        return
    status, why = refusal
    if bottle.request.path.startswith("/api/"):
        text = request_context.as_json({"error": why}, status=status)
    else:
        text = request_context.page_error(
            status, f"This form was not sent: {why}.", "Form not sent"
        )
    answer = bottle.response.copy(cls=bottle.HTTPResponse)
    answer.body = text
    raise answer
