"""Which failures are worth another try, for Dramatiq's Retries middleware (``retry_when``).

Backoff between tries is Dramatiq's: exponential with jitter, from each actor's
``min_backoff`` to ``max_backoff``; a ``Retry`` with a delay (Spotify's ``Retry-After``)
sets its own.
"""

from __future__ import annotations

import redis
from dramatiq import Retry
from dramatiq.middleware import TimeLimitExceeded

from spotify.errors import (
    BadResponse,
    NeedsReauth,
    NotFound,
    RequestRejected,
    ServerError,
    SpotifyTimeout,
)

# Spotify's own trouble (5xx, timeouts, junk): a few tries, then the job fails for good.
MAX_TRANSIENT_RETRIES = 5
# Deferrals for Spotify's pauses and hand-backs at shutdown: bounded, but generous.
MAX_DEFERRALS = 100
# Anything else is likely a bug or a database outage: try a little, then fail visibly.
MAX_OTHER_RETRIES = 3


def retry_when(retries: int, exception: BaseException) -> bool:
    """Whether a message that raised ``exception`` after ``retries`` tries goes again."""
    if isinstance(exception, NeedsReauth | NotFound | RequestRejected):
        return False  # No retry fixes these: the person must sign in, or the thing is gone.
    if isinstance(exception, Retry):
        return retries < MAX_DEFERRALS
    if isinstance(exception, redis.RedisError):
        # Redis was away for a moment (the rate gate, sending artists): not the job's fault.
        return retries < MAX_DEFERRALS
    if isinstance(exception, ServerError | SpotifyTimeout | BadResponse):
        return retries < MAX_TRANSIENT_RETRIES
    if isinstance(exception, TimeLimitExceeded):
        return retries < 1
    return retries < MAX_OTHER_RETRIES
