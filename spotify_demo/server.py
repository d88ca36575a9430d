"""Serving the demo Spotify: in the foreground for ``overlap demo-spotify``, or in a thread
for tests (on a free port, stopped by the function it returns)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import waitress
from waitress import wasyncore
from waitress.server import BaseWSGIServer

from config.settings import Settings
from spotify_demo.app import create_demo_app, limits_of
from spotify_demo.catalog import Catalog
from spotify_demo.config import DemoConfig

log = logging.getLogger(__name__)

# Enough threads that stalled requests (faults that sleep) do not starve the others.
THREADS = 32


def _config(settings_or_config: Settings | DemoConfig) -> DemoConfig:
    if isinstance(settings_or_config, DemoConfig):
        return settings_or_config
    return DemoConfig.from_settings(settings_or_config)


def serve(
    settings_or_config: Settings | DemoConfig, host: str = "127.0.0.1", port: int = 8001
) -> None:
    """Serve the demo Spotify until interrupted."""
    app = create_demo_app(_config(settings_or_config))
    waitress.serve(app, host=host, port=port, threads=THREADS, ident="demo-spotify")


def start_in_thread(
    config: DemoConfig, port: int = 0, *, catalog: Catalog | None = None
) -> tuple[str, Callable[[], None]]:
    """Start serving on loopback in a daemon thread; returns the base URL and a stop function."""
    app = create_demo_app(config, catalog)
    server = waitress.create_server(
        app, host="127.0.0.1", port=port, threads=THREADS, ident="demo-spotify"
    )
    thread = threading.Thread(target=server.run, name="demo-spotify", daemon=True)
    thread.start()

    def stop() -> None:
        limits_of(app).stop()
        try:
            server.trigger.pull_trigger(lambda: _close_all(server))
        except OSError:
            _close_all(server)  # The loop is already gone; close what is left from here.
        thread.join(timeout=10)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    return f"http://127.0.0.1:{server.effective_port}", stop


def _close_all(server: BaseWSGIServer) -> None:
    """Close every channel of a waitress server, which empties its loop's map so ``run``
    returns.

    The trigger is closed by hand: waitress's own ``trigger.close()`` closes its read end
    twice (once itself, once through its file wrapper), and with two servers in one
    process the second close can hit a descriptor the other server has just reused.
    """
    trigger = server.trigger
    for channel in list(server._map.values()):
        if channel is not trigger:
            channel.close()
    if not trigger._closed:
        trigger._closed = True
        os.close(trigger.trigger)  # the write end, once
        wasyncore.file_dispatcher.close(trigger)  # the read end, once, via its wrapper


def main(settings: Settings, host: str = "127.0.0.1") -> None:
    """Serve on ``settings.demo_spotify_port`` at ``host``, saying where in one log line."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    port = settings.demo_spotify_port
    log.info("demo Spotify at http://%s:%d (API /v1, accounts /accounts, pages /open)", host, port)
    serve(settings, host, port)
