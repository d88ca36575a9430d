"""The app's routes, one module per resource; ``mount_all`` adds them to an app."""

from __future__ import annotations

import bottle

from web.http.services import Services
from web.routes import (
    admin,
    admin_dead,
    admin_queues,
    admin_schedules,
    api,
    artists,
    auth,
    compare,
    groups,
    health,
    home,
    ops_api,
    pages,
    people,
)

# In the order Bottle matches them; no two modules share a route.
MODULES = (
    pages, auth, home, people, compare, groups, artists, api, health, ops_api,
    admin, admin_dead, admin_queues, admin_schedules,
)  # fmt: skip


def mount_all(app: bottle.Bottle, services: Services) -> None:
    """Add every route to ``app``."""
    for module in MODULES:
        module.mount(app, services)
