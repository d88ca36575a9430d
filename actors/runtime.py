"""The worker process's shared state: its settings, its sync context and its stop flag.

``actors.app`` (or a test) calls ``configure`` once; actors read ``context()``.
"""

from __future__ import annotations

import threading

import dramatiq

from config.settings import Settings
from sync.context import SyncContext

# Set when the worker process is asked to stop (SIGTERM): running syncs save their
# checkpoint after the page in hand and give their message back.
stopping = threading.Event()

_context: SyncContext | None = None


def configure(settings: Settings) -> SyncContext:
    """Build the process's sync context on the global broker's Redis."""
    global _context
    broker = dramatiq.get_broker()
    _context = SyncContext.build(settings, getattr(broker, "client", None))
    stopping.clear()
    return _context


def context() -> SyncContext:
    """The process's sync context (``configure`` must have run)."""
    if _context is None:
        raise RuntimeError("actors.runtime.configure(settings) was not called")
    return _context


def set_context(ctx: SyncContext) -> None:
    """Use ``ctx`` (tests swap in their own senders or clients)."""
    global _context
    _context = ctx
