"""Per-request concerns as one Bottle plugin: the session, CSRF on POST, and turning a
database outage into a clear 503 page instead of a traceback."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import bottle
from peewee import InterfaceError, OperationalError

from web.http import request_context
from web.http.session import Session, SessionStore, csrf_ok

logger = logging.getLogger(__name__)


class RequestPlugin:
    """Loads and saves the session around every route and checks CSRF on POSTs."""

    name = "overlap-request"
    api = 2

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        """Wrap one route's callback."""

        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = bottle.request
            session = self.store.load(request)
            request.environ["overlap.session"] = session
            try:
                refusal = _refuse_post(session) if request.method == "POST" else None
                result = callback(*args, **kwargs) if refusal is None else refusal
            except bottle.HTTPResponse as response:
                self.store.save(session, request, response)
                raise
            except (OperationalError, InterfaceError) as exc:
                logger.warning("database unavailable: %s", exc)
                result = _database_down()
            # A returned HTTPResponse replaces bottle.response's headers, cookies included.
            target = result if isinstance(result, bottle.HTTPResponse) else bottle.response
            self.store.save(session, request, target)
            return result

        return wrapper


def _refuse_post(session: Session) -> str | None:
    """None when a POST may go on, else the answer refusing it: a body Bottle cannot read
    (400, or 413 when too large) or no valid CSRF token (403)."""
    request = bottle.request
    try:
        _ = request.forms  # Bottle parses the body here, once: a broken one stops here
    except bottle.HTTPError as error:  # a broken multipart body, or one over MEMFILE_MAX
        return _refuse_body(error.status_code if error.status_code == 413 else 400)
    except (ValueError, LookupError):  # a broken Content-Type, unknown charset, NUL in a name
        return _refuse_body(400)
    return None if csrf_ok(session, request) else _refuse_csrf()


def _refuse_body(status: int) -> str:
    too_large = status == 413
    if bottle.request.path.startswith("/api/"):
        problem = "too large" if too_large else "not readable"
        return request_context.as_json({"error": f"the request body is {problem}"}, status=status)
    return request_context.page_error(
        status,
        "This form is too large to send."
        if too_large
        else "This form could not be read. Go back, reload the page and try again.",
        title="Form not sent",
    )


def _refuse_csrf() -> str:
    if bottle.request.path.startswith("/api/"):
        return request_context.as_json({"error": "missing or wrong CSRF token"}, status=403)
    return request_context.page_error(
        403,
        "This form has expired. Go back, reload the page and try again.",
        title="Form expired",
    )


def _database_down() -> str:
    bottle.request.environ["overlap.user"] = None  # do not ask the database again
    bottle.response.set_header("Retry-After", "30")
    if bottle.request.path.startswith("/api/"):
        return request_context.as_json(
            {"error": "the database is unavailable; try again soon"}, 503
        )
    return request_context.page_error(
        503,
        "overlap cannot reach its database right now. Try again in a minute.",
        title="Temporarily unavailable",
    )
