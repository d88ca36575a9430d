"""The services a request reaches, made once by ``create_app`` and typed.

``web.app.create_app`` builds one ``Services`` and hands it to every route module's
``mount``; the plumbing that runs outside a route (the request plugin, the sign-in guard,
rendering) reads the same object through ``request_context.services()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import bottle
import redis

from config.redis_ref import RedisRef
from config.settings import Settings
from models import JobRun, User
from spotify.sign_in import SignInCalls
from web.http.client_address import ClientAddress
from web.http.static_files import StaticFiles
from web.state.comparison_cache import ComparisonCache
from web.state.guess_limit import GuessGuard
from web.state.sign_in_limit import SignInLimit

# The key of the one entry ``create_app`` puts in Bottle's ``app.config``.
CONFIG_KEY = "overlap.services"


class Render(Protocol):
    """A template's HTML from its name and values (``web.views.render.Renderer``)."""

    def __call__(self, name: str, **values: Any) -> str: ...


class RequestSync(Protocol):
    """Ask for a sync of ``user``'s library when it is missing or stale (or always, with
    ``force``); the job's row, or None when nothing was asked for."""

    def __call__(
        self, user: User, force: bool = False, requested_by: str = "user"
    ) -> JobRun | None: ...


@dataclass(frozen=True)
class Services:
    """Everything a route needs beyond the request itself."""

    settings: Settings
    # The web's own Redis client (short timeouts; web/state/redis_client.py) and the queues'
    # namespace on it; both None when REDIS_URL is not set.
    redis: redis.Redis | None
    redis_ref: RedisRef | None
    render: Render
    request_sync: RequestSync
    guess_limit: GuessGuard
    client_address: ClientAddress
    comparisons: ComparisonCache
    # Sign-in: the per-address limit of its steps, and its calls to Spotify.
    sign_in_limit: SignInLimit
    sign_in_calls: SignInCalls
    # The files under static/, by their content-hashed names (web/http/static_files.py).
    static: StaticFiles

    def install(self, app: bottle.Bottle) -> None:
        """Make these the services of ``app``'s requests."""
        app.config[CONFIG_KEY] = self


def of(app: bottle.Bottle) -> Services:
    """The services ``install`` gave ``app``."""
    services = app.config[CONFIG_KEY]
    assert isinstance(services, Services), "create_app installs the services"
    return services
