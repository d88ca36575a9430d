"""What no log line may hold, masked in one place: the log formatter (config/logs.py).

Every line of every process, text or JSON, the access log included, goes through ``mask``
and ``escape_controls`` there. So a logger anywhere in the code needs no filter of its own.

Masked, wherever they appear in a line:

- OAuth codes and tokens in a query or a form (``/callback?code=…``, ``access_token=…``,
  ``refresh_token=…``, ``client_secret=…``), and the same names as JSON or dict keys;
- friend codes in paths (``/compare/<code>``, ``/api/compare/<code>``) and in ``with=``,
  ``friend_code=``;
- an ``Authorization`` header's credentials (``Bearer …``, ``Basic …``);
- the session cookie's value (``overlap_session=…``);
- the app's own secrets by value (the Spotify client secret, the session key, the token
  keys, the metrics token), given to ``configure`` at start-up.

A request's path, query and headers are the client's text: a path with ``%0D%0A`` in it
would otherwise write a second, made-up line. ``escape_controls`` writes what is not
printable as its escape, so one record is always one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# Query and form fields whose value is a credential or a friend code. ``state`` is kept:
# it is single-use, bound to the session, and an operator follows a sign-in by it.
_SECRET_FIELDS = (
    "code",
    "friend_code",
    "with",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "token",
    "password",
)
_FIELD = "|".join(_SECRET_FIELDS)
_PATTERNS = (
    # name=value in a query, a form body or a cookie-like list (stops at &, ;, space, quote)
    (re.compile(rf"(?<![\w-])((?:{_FIELD})=)[^&;\s\"'#]+", re.IGNORECASE), rf"\1{MASK}"),
    # 'name': 'value' and "name": "value" (a dict's repr, a JSON body)
    (
        re.compile(rf"((?:['\"])(?:{_FIELD})['\"]\s*:\s*['\"])[^'\"]*", re.IGNORECASE),
        rf"\1{MASK}",
    ),
    # a friend code in a path: /compare/<code> and /api/compare/<code>
    (re.compile(r"(/compare/)[^/?#\s\"']+"), rf"\1{MASK}"),
    # an Authorization header's credentials
    (re.compile(r"\b(Bearer|Basic)\s+[^\s'\",}]+", re.IGNORECASE), rf"\1 {MASK}"),
    # the session cookie (web/http/session.py's COOKIE), as a header or a Set-Cookie
    (re.compile(r"(overlap_session=)[^;\s\"']+"), rf"\1{MASK}"),
)
# Secrets known by value shorter than this are not masked by value: masking "abc"
# everywhere would garble lines and tell a reader what the secret is.
MIN_KNOWN_SECRET = 8


class Masker:
    """Masks the patterns above and the known secret values in a line of text."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in known_secrets if s and len(s) >= MIN_KNOWN_SECRET}, key=len)
        # Longest first, so a secret that contains another is masked whole.
        self.known = (
            re.compile("|".join(re.escape(v) for v in reversed(values))) if values else None
        )

    def __call__(self, text: str) -> str:
        """``text`` with every credential, code and known secret replaced by ``***``."""
        if self.known is not None:
            text = self.known.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def escape_controls(text: str) -> str:
    """``text`` with every character that is not printable written as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
