"""The app's routes, one module per resource; ``mount_all`` adds them to an app."""

from __future__ import annotations

import bottle

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
)


def mount_all(app: bottle.Bottle) -> None:
    """Add every route to ``app``."""
    pages.mount(app)
    auth.mount(app)
    home.mount(app)
    compare.mount(app)
    artists.mount(app)
    api.mount(app)
    health.mount(app)
    ops_api.mount(app)
    admin.mount(app)
    admin_dead.mount(app)
    admin_schedules.mount(app)
