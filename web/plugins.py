"""Per-request concerns as one Bottle plugin: the session, CSRF on POST, and turning a
database outage into a clear 503 page instead of a traceback."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import bottle
from peewee import InterfaceError, OperationalError

from web import context
from web.session import SessionStore, csrf_ok

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
                if request.method == "POST" and not csrf_ok(session, request):
                    result = _refuse_csrf()
                else:
                    result = callback(*args, **kwargs)
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


def _refuse_csrf() -> str:
    if bottle.request.path.startswith("/api/"):
        return context.as_json({"error": "missing or wrong CSRF token"}, status=403)
    return context.page_error(
        403,
        "This form has expired. Go back, reload the page and try again.",
        title="Form expired",
    )


def _database_down() -> str:
    bottle.request.environ["overlap.user"] = None  # do not ask the database again
    bottle.response.set_header("Retry-After", "30")
    if bottle.request.path.startswith("/api/"):
        return context.as_json({"error": "the database is unavailable; try again soon"}, 503)
    return context.page_error(
        503,
        "overlap cannot reach its database right now. Try again in a minute.",
        title="Temporarily unavailable",
    )
