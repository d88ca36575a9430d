"""Asking Spotify for one page of a library again, a moment later, when it fails once.

A try of a sync reads many pages, and any page Spotify fails ends the try (the job then
goes on from its checkpoint after a backoff: actors/retry_policy.py). Spotify's 5xx,
stalls and cut-off answers often last one request, and a try ended by each of them would
make a sync of 170 pages at one answer in five failing end dozens of tries, each
waiting out its backoff, and each a failure that could be the fifth in a row without a
page (five failed requests in a row happen in about one such sync in ten at 20 %, and in
one in two at 40 %). So a page is asked for up to ``ASKS_PER_PAGE`` times, a fraction of
a second apart, before the failure ends the try: the tries count what lasts, not one-off
blips. A 429 is never asked again here: it pauses the host for every process.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from spotify.errors import BadResponse, ServerError, SpotifyTimeout

T = TypeVar("T")

ASKS_PER_PAGE = 3
# The first pause; each next one doubles. Each is stretched by up to twice (jitter), so that
# the threads of a sync, or several syncs, failed by one blip do not ask again in step.
FIRST_PAUSE_S = 0.1


def ask(fetch: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """``fetch()``, asked again after a short pause when Spotify fails it, up to
    ``ASKS_PER_PAGE`` times in all; the last failure is raised."""
    for asked in range(1, ASKS_PER_PAGE + 1):
        try:
            return fetch()
        except (ServerError, SpotifyTimeout, BadResponse):
            if asked == ASKS_PER_PAGE:
                raise
            sleep(FIRST_PAUSE_S * 2 ** (asked - 1) * random.uniform(1, 2))
    raise AssertionError("unreachable: the last ask returns or raises")
