"""The app's routes, one module per resource; ``mount_all`` adds them to an app."""

from __future__ import annotations

import bottle

from web.http.services import Services
from web.routes import (
    admin,
    admin_dead,
    admin_schedules,
    api,
    artists,
    auth,
    compare,
    health,
    home,
    ops_api,
    pages,
    people,
)


def mount_all(app: bottle.Bottle, services: Services) -> None:
    """Add every route to ``app``."""
    pages.mount(app, services)
    auth.mount(app, services)
    home.mount(app, services)
    people.mount(app, services)
    compare.mount(app, services)
    artists.mount(app, services)
    api.mount(app, services)
    health.mount(app, services)
    ops_api.mount(app, services)
    admin.mount(app, services)
    admin_dead.mount(app, services)
    admin_schedules.mount(app, services)
