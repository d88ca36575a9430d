"""The demo Spotify's runtime state: current config, rate limits, daily quota, faults, counters.

One ``Limits`` object per app, shared by all request threads; every method takes its lock.
Rate limits are rolling windows counted per host kind (``api`` and ``open`` apart), as
Spotify throttles the Web API and the web player separately.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from typing import Any

from spotify_demo.config import DemoConfig

HOST_KINDS = ("api", "accounts", "open", "images", "control")
FAULT_STATUSES = (500, 502, 503)
# The sliding windows whose busiest count ``stats`` gives, by name: their seconds.
BUSIEST_SPANS = {"busiest_second": 1.0, "busiest_30_seconds": 30.0}


class RollingWindow:
    """At most ``limit`` admissions in any ``window_s`` seconds."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def admit(self, now: float, limit: int, window_s: float) -> int | None:
        """None when admitted (and counted), else whole seconds until a slot frees."""
        if limit <= 0:
            return None
        while self._times and self._times[0] <= now - window_s:
            self._times.popleft()
        if len(self._times) < limit:
            self._times.append(now)
            return None
        # Retry-After counts from the oldest request in the window; never say 0, which
        # clients would read as "retry at once".
        return max(1, math.ceil(self._times[0] + window_s - now))


class DailyQuota:
    """At most ``quota`` admissions per UTC day."""

    def __init__(self) -> None:
        self._day = ""
        self._used = 0

    def admit(self, now: float, quota: int) -> int | None:
        """None when admitted (and counted), else whole seconds until the next UTC midnight."""
        moment = datetime.fromtimestamp(now, UTC)
        day = moment.date().isoformat()
        if day != self._day:
            self._day, self._used = day, 0
        if quota <= 0 or self._used < quota:
            self._used += 1
            return None
        midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
        return max(1, math.ceil((midnight - moment).total_seconds()))


class Limits:
    """Thread-safe runtime state of one demo app."""

    def __init__(self, config: DemoConfig) -> None:
        self._initial = config
        self._config = config
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Not seeded: faults are meant to be unpredictable; tests use rates of 0 or 1.
        self._dice = random.Random()
        self._clear()

    def _clear(self) -> None:
        self._windows = {kind: RollingWindow() for kind in HOST_KINDS}
        self._quota = DailyQuota()
        self._requests: Counter[str] = Counter()
        self._routes: Counter[str] = Counter()
        self._events: Counter[str] = Counter()
        # 429s since the last request let through, and the most ever in a row, per kind.
        self._refused_run: Counter[str] = Counter()
        self._longest_refused_run: Counter[str] = Counter()
        # The arrivals of the last second (and of the last rate window) and the most ever
        # seen within one, per kind: what a shared rate limit must bound across every host.
        self._recent: dict[str, dict[str, deque[float]]] = {
            name: {kind: deque() for kind in HOST_KINDS} for name in BUSIEST_SPANS
        }
        self._busiest = {name: Counter[str]() for name in BUSIEST_SPANS}
        # Requests per client address: which hosts did the work.
        self._clients: Counter[str] = Counter()

    @property
    def config(self) -> DemoConfig:
        """The config in force now."""
        return self._config

    def update(self, changes: dict[str, Any]) -> DemoConfig:
        """Change runtime fields of the config; raises ``SettingsError`` on a bad change."""
        with self._lock:
            self._config = self._config.with_changes(changes)
            return self._config

    def reset(self) -> None:
        """Back to the start-up config, with empty windows, quota and counters."""
        with self._lock:
            self._config = self._initial
            self._clear()

    def admit(self, kind: str) -> int | None:
        """None if a request of this host kind may proceed, else its Retry-After seconds."""
        config = self._config
        limit = {"api": config.rate_limit, "open": config.pages_rate_limit}.get(kind, 0)
        now = time.time()
        with self._lock:
            # The daily quota is a Web API notion; the pages only have a rolling window.
            wait = self._quota.admit(now, config.daily_quota) if kind == "api" else None
            if wait is None:
                wait = self._windows[kind].admit(now, limit, config.rate_window_s)
            self._count_run(kind, refused=wait is not None)
            return wait

    def _count_run(self, kind: str, refused: bool) -> None:
        """Follow the runs of 429s with no request let through between them (lock held)."""
        if not refused:
            self._refused_run[kind] = 0
            return
        self._refused_run[kind] += 1
        run = self._refused_run[kind]
        self._longest_refused_run[kind] = max(self._longest_refused_run[kind], run)

    def roll(self, rate: float) -> bool:
        """True with probability ``rate``."""
        if rate <= 0:
            return False
        with self._lock:
            return rate >= 1 or self._dice.random() < rate

    def fault_status(self) -> int:
        """Which server error to fake."""
        with self._lock:
            return self._dice.choice(FAULT_STATUSES)

    def count_request(self, kind: str, route: str, client: str = "") -> None:
        """Count one request by host kind, by route and by client address."""
        now = time.monotonic()
        with self._lock:
            self._requests[kind] += 1
            self._routes[route] += 1
            self._clients[client] += 1
            for name, span in BUSIEST_SPANS.items():
                arrivals = self._recent[name][kind]
                arrivals.append(now)
                while arrivals[0] <= now - span:
                    arrivals.popleft()
                self._busiest[name][kind] = max(self._busiest[name][kind], len(arrivals))

    def note(self, event: str) -> None:
        """Count one event (``rate_limited``, ``server_errors``, ``timeouts``, ...)."""
        with self._lock:
            self._events[event] += 1

    def stats(self) -> dict[str, Any]:
        """The counters since start-up or the last reset."""
        with self._lock:
            return {
                "requests": {kind: self._requests[kind] for kind in HOST_KINDS},
                "routes": dict(sorted(self._routes.items())),
                # The most requests that arrived within any one second, and within any 30
                # (Spotify's window), both sliding.
                **{
                    name: {kind: self._busiest[name][kind] for kind in HOST_KINDS}
                    for name in BUSIEST_SPANS
                },
                "clients": dict(sorted(self._clients.items())),
                "rate_limited": self._events["rate_limited"],
                # A client that shares Spotify's pause among its threads draws at most one
                # 429 per thread before the pause stops them all: so this many at most.
                "rate_limited_in_a_row": {
                    kind: self._longest_refused_run[kind] for kind in ("api", "open")
                },
                "server_errors": self._events["server_errors"],
                "timeouts": self._events["timeouts"],
                "truncated": self._events["truncated"],
            }

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the server is stopping."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def stop(self) -> None:
        """Wake every sleeping request so that the server can shut down quickly."""
        self._stopping.set()
