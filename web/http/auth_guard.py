"""Who may call a route: ``login_required`` and ``admin_only``, and the answers a signed-out
request gets.

Each kind of route answers a signed-out request its own way (a page sends the visitor to
sign in, a fragment says so in a 401, the JSON API gives 401 JSON), so the decorator is
told which answer to give; the route itself only runs for a signed-in person.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import bottle

from models import User
from web.http import request_context
from web.http.request_context import as_json, page_error, see_other

Handler = Callable[..., Any]
# Called with the route's URL arguments when no one is signed in; returns the answer.
SignedOut = Callable[..., Any]


def login_required(otherwise: SignedOut) -> Callable[[Handler], Handler]:
    """Call the route with the signed-in user first; answer ``otherwise(**url_args)``
    when no one is signed in."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = request_context.current_user()
            if user is None:
                return otherwise(*args, **kwargs)
            return handler(user, *args, **kwargs)

        return guarded

    return decorate


def sign_in_first(*_: Any, **__: Any) -> bottle.HTTPResponse:
    """A page or form: send the visitor to sign in."""
    return see_other("/login")


def api_not_signed_in(*_: Any, **__: Any) -> str:
    """The JSON API: 401 with the error scripts look for."""
    return as_json({"error": "not signed in"}, status=401)


def not_signed_in_page(message: str) -> SignedOut:
    """A fragment or form that cannot send anyone on: a 401 page saying ``message``."""

    def answer(*_: Any, **__: Any) -> str:
        return page_error(401, message)

    return answer


def _admin_signed_out(*_: Any, **__: Any) -> str | bottle.HTTPResponse:
    # A page sends the visitor to sign in and back. An action (a POST) is refused as for
    # anyone who is not an admin: coming back to its address after sign-in would be a GET,
    # which an action does not accept.
    if bottle.request.method == "GET":
        return see_other("/login?" + urlencode({"next": bottle.request.path}))
    return _not_an_admin()


def _not_an_admin() -> str:
    return page_error(
        403, "Only the app's admins may open the operations dashboard.", "Not allowed"
    )


def admin_only(handler: Handler) -> Handler:
    """Let admins through; send a signed-out visitor to sign in; 403 for everyone else."""

    @login_required(otherwise=_admin_signed_out)
    @wraps(handler)
    def guarded(user: User, *args: Any, **kwargs: Any) -> Any:
        if not request_context.is_admin(user):
            return _not_an_admin()
        return handler(*args, **kwargs)

    return guarded
