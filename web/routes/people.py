"""Who may see your library: stop sharing it with someone, keep them after a new friend
code, or share it again. The list itself is on the home page (``models/compared.py``
holds the access model)."""

from __future__ import annotations

from collections.abc import Callable

import bottle

from models import ComparedWith, User
from web.http import request_context
from web.http.auth_guard import login_required, sign_in_first
from web.http.request_context import page_error, see_other
from web.http.services import Services


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the people routes to ``app``."""

    @app.post("/people/<other_id>/<action:re:remove|keep|invite>")
    @login_required(otherwise=sign_in_first)
    def change_access(user: User, other_id: str, action: str) -> str | bottle.HTTPResponse:
        # Anything but an id in the database's range is no one.
        number = request_context.row_id(other_id)
        if number is None or number == user.id:
            return page_error(404, "There is no such person on your list.")
        ACTIONS[action](user, number)
        return see_other("/")


ACTIONS: dict[str, Callable[[User, int], int]] = {
    # At once, and the same code will not let them back in.
    "remove": ComparedWith.remove,
    # A new friend code leaves them in.
    "keep": ComparedWith.keep,
    # Only someone already on the list, by the owner's own act.
    "invite": ComparedWith.invite,
}
