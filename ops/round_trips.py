"""Counting the Redis and database round trips that work makes, by the thread making them.

On one machine a round trip costs a tenth of a millisecond; across a network it costs the
link's delay both ways, so a job's time between hosts is its round trips times the
distance. This counts them where each one starts: redis-py sends every command, and every
pipeline as a whole, through one ``send_packed_command``; peewee sends every statement,
and ``BEGIN``, ``COMMIT`` and ``ROLLBACK``, through one ``cursor().execute``. Each such call
waits for the server's answer, so each is one round trip. The tests and benchmarks use it;
the app never does.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import redis.connection
from peewee import Database

# Where redis-py runs a new connection's handshake (the second from redis-py 8 on).
_HANDSHAKES = ("on_connect", "on_connect_check_health")
_OURS = ("actors", "jobs", "models", "ops", "spotify", "sync", "web", "cli")


def _our_caller() -> str:
    """The innermost function of the app's own packages on this thread's stack."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.split(".")[0] in _OURS and module != __name__:
            return f"{module}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


class _CountingCursor:
    """A DB-API cursor that counts its ``execute`` calls; everything else is the cursor's."""

    def __init__(self, cursor: Any, count: Callable[[], None]) -> None:
        self._cursor = cursor
        self._count = count

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._count()
        return self._cursor.execute(*args, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class RoundTrips:
    """The round trips to Redis and to the database, by the kind of thread that made them
    (``type(thread).__name__``: Dramatiq's ``_WorkerThread`` and ``_ConsumerThread``, a
    middleware's own thread class, ``Thread`` for a pool's, ``_MainThread``)."""

    def __init__(self, kinds: frozenset[str] | None = None) -> None:
        # Only these kinds of thread are counted (all when None): a worker another test
        # left running in the process is not the work measured.
        self.kinds = kinds
        self.redis: Counter[str] = Counter()
        self.db: Counter[str] = Counter()
        # Where each came from: "redis|db <module>.<function>" of the nearest caller of
        # ours, to say why each one is there.
        self.sites: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _add(self, counter: Counter[str]) -> None:
        kind = type(threading.current_thread()).__name__
        if self.kinds is not None and kind not in self.kinds:
            return
        site = f"{'redis' if counter is self.redis else 'db'} {_our_caller()}"
        with self._lock:
            counter[kind] += 1
            self.sites[site] += 1

    @contextmanager
    def counting(self) -> Iterator[RoundTrips]:
        """Count every round trip of every thread in this process while the block runs."""
        connection = redis.connection.AbstractConnection
        send = connection.send_packed_command
        # A new connection's handshake (HELLO, CLIENT SETINFO, SELECT) is the pool's, once
        # per connection, not the work's: whether a thread needs a new one is timing (on a
        # loaded machine more threads hold a connection at once, so the pool opens more).
        # redis-py 8 runs it from on_connect_check_health, which connect() calls without
        # going through on_connect: both are left uncounted, or a handshake would count as
        # round trips of whatever call of ours happened to open the connection.
        handshakes = [n for n in _HANDSHAKES if hasattr(connection, n)]
        originals = {name: getattr(connection, name) for name in handshakes}
        cursor = Database.cursor
        trips = self
        handshake = threading.local()

        def counted_send(connection: Any, *args: Any, **kwargs: Any) -> Any:
            if not getattr(handshake, "on", False):
                trips._add(trips.redis)
            return send(connection, *args, **kwargs)

        def uncounted(original: Callable[..., Any]) -> Callable[..., Any]:
            def uncounted_handshake(connection: Any, *args: Any, **kwargs: Any) -> Any:
                outer = getattr(handshake, "on", False)
                handshake.on = True
                try:
                    return original(connection, *args, **kwargs)
                finally:
                    handshake.on = outer

            return uncounted_handshake

        def counted_cursor(db: Any, *args: Any, **kwargs: Any) -> Any:
            return _CountingCursor(cursor(db, *args, **kwargs), lambda: trips._add(trips.db))

        # The one place redis-py sends from, and the one peewee runs statements from.
        _swap(connection, "send_packed_command", counted_send)
        for name, original in originals.items():
            _swap(connection, name, uncounted(original))
        _swap(Database, "cursor", counted_cursor)
        try:
            yield self
        finally:
            _swap(connection, "send_packed_command", send)
            for name, original in originals.items():
                _swap(connection, name, original)
            _swap(Database, "cursor", cursor)


def _swap(owner: type, name: str, function: Callable[..., Any]) -> None:
    """Put ``function`` in place of the method ``name`` of ``owner``."""
    setattr(owner, name, function)
