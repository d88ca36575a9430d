"""Typed errors of the Spotify boundary, and the translation of HTTP failures into them.

Jobs decide about retries from the type alone: ``RateLimited``, ``ServerError`` and
``SpotifyTimeout`` are temporary; ``NeedsReauth``, ``NotFound``, ``RequestRejected`` and
``BadResponse`` are not worth retrying as such. Messages are short and never hold a token.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import NoReturn

from requests.exceptions import (
    ChunkedEncodingError,
    ContentDecodingError,
    JSONDecodeError,
    RequestException,
    Timeout,
)
from requests.exceptions import ConnectionError as RequestsConnectionError

DEFAULT_RETRY_AFTER = 1.0


class SpotifyError(Exception):
    """Anything that went wrong talking to Spotify (or the demo Spotify)."""


class NeedsReauth(SpotifyError):
    """Spotify refused the user's tokens: the person must sign in again."""


class TokenRefused(NeedsReauth):
    """The Web API refused an access token (401), maybe before its announced expiry: worth
    one refresh before the person is asked to sign in again."""


class NotFound(SpotifyError):
    """The thing asked for does not exist on Spotify."""


class RateLimited(SpotifyError):
    """Spotify asked us to slow down; ``retry_after`` says for how many seconds."""

    def __init__(self, message: str, retry_after: float, host_kind: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.host_kind = host_kind


class BudgetSpent(RateLimited):
    """The day's Web API budget (``SPOTIFY_DAILY_BUDGET``) is spent: wait for the next UTC
    day. Our own limit, not Spotify's answer, so it pauses no host."""


class SignInBusy(SpotifyError):
    """This web process already has as many sign-ins talking to Spotify as it allows: the
    person is asked to try again in a moment instead of a thread being tied up waiting."""


class ServerError(SpotifyError):
    """Spotify answered with a 5xx status; usually temporary."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SpotifyTimeout(SpotifyError):
    """Spotify did not answer in time, or the connection failed."""


class BadResponse(SpotifyError):
    """Spotify's answer was truncated, not JSON, or not shaped as documented."""


class RequestRejected(SpotifyError):
    """Spotify refused the request for a reason a retry won't fix (400, 403, bad client...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotRegistered(RequestRejected):
    """A Development Mode app and a person not on its user list in Spotify's dashboard: they
    got through the consent page, and every Web API call answers 403."""


# What Spotify's 403 says then ("Check settings on developer.spotify.com/dashboard, the user
# may not be registered.").
_NOT_REGISTERED_HINT = "may not be registered"


def parse_retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date); 1 if unusable."""
    if value is None:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            return DEFAULT_RETRY_AFTER
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return max(0.0, seconds)


def error_for_status(
    status: int, headers: Mapping[str, str] | None, host_kind: str, what: str, message: str = ""
) -> SpotifyError:
    """The typed error for an HTTP error ``status`` answered to the request for ``what``
    (``message``: the error object's, when the answer had one)."""
    if status == 401:
        return TokenRefused(f"Spotify refused the access token (401) for {what}")
    if status == 404:
        return NotFound(f"Spotify has no {what} (404)")
    if status == 429:
        raw = headers.get("Retry-After") if headers else None
        retry_after = parse_retry_after(raw)
        return RateLimited(
            f"Spotify rate limit on the {host_kind} host for {what}; retry after {retry_after:g}s",
            retry_after=retry_after,
            host_kind=host_kind,
        )
    if status >= 500:
        return ServerError(f"Spotify failed with {status} for {what}", status=status)
    if status == 403 and _NOT_REGISTERED_HINT in message.lower():
        return NotRegistered(
            f"Spotify refused {what} with 403: the person is not on the app's user list",
            status=status,
        )
    return RequestRejected(f"Spotify refused {what} with {status}", status=status)


def raise_for_requests(exc: RequestException, what: str) -> NoReturn:
    """Raise the typed error for a failure of ``requests`` (``exc`` itself when it is a
    programming error); call it in the ``except`` that caught ``exc``."""
    error = error_for_requests(exc, what)
    if error is None:
        raise exc
    raise error from exc


def error_for_requests(exc: RequestException, what: str) -> SpotifyError | None:
    """The typed error for a failure of ``requests`` itself, or None for a programming error."""
    # ChunkedEncodingError and ContentDecodingError mean the body arrived cut off or garbled.
    if isinstance(exc, ChunkedEncodingError | ContentDecodingError):
        return BadResponse(f"Spotify's answer for {what} was cut off or garbled")
    # ConnectTimeout is both a Timeout and a ConnectionError; both mean "no answer".
    if isinstance(exc, Timeout):
        return SpotifyTimeout(f"Spotify did not answer in time for {what}")
    if isinstance(exc, RequestsConnectionError):
        return SpotifyTimeout(f"Could not connect to Spotify for {what}")
    if isinstance(exc, JSONDecodeError):
        return BadResponse(f"Spotify's answer for {what} was not valid JSON")
    return None
