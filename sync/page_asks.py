"""Asking Spotify for one page of a library again, a moment later, when it fails once.

A try of a sync reads many pages, and any page Spotify fails ends the try (the job then
goes on from its checkpoint after a backoff: actors/retry_policy.py). Spotify's 5xx,
stalls and cut-off answers often last one request, and each would end a try, wait out a
backoff, and count as a failure that could be the fifth in a row without a page: the
followed artists are read one page after the other, and the three totals must all come in
one try. Measured with ``bench/flaky_sync.py --asks 1`` (ana, 170 pages): at 40 % failed
answers 4 syncs of 8 failed (3 before their first page), the others took 58 to 75 tries
and 3 to 5 minutes; at 20 %, 23 to 38 tries and 66 to 106 s. So a page is asked for up
to ``ASKS_PER_PAGE`` times, a fraction of a second apart, before the failure ends the
try: the tries count what lasts, not one-off blips (then 10 syncs of 10 at each rate, in
7.5 and 2 tries, 38 and 17 s). A 429 is never asked again here: it pauses the host for
every process.
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
