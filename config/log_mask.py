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
# Each rule: the substrings (of the line in lower case) without one of which it cannot
# match, so that a line is searched only by the rules it may need; the pattern; and what
# a match becomes. An access line is formatted on every request: the checks keep the
# masking's cost to a few substring searches on most lines.
_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    # name=value in a query, a form body or a cookie-like list (stops at &, ;, space, quote)
    (
        tuple(f"{name}=" for name in _SECRET_FIELDS),
        re.compile(rf"(?<![\w-])((?:{_FIELD})=)[^&;\s\"'#]+", re.IGNORECASE),
        rf"\1{MASK}",
    ),
    # 'name': 'value' and "name": "value" (a dict's repr, a JSON body)
    (
        tuple(f"{name}{quote}" for name in _SECRET_FIELDS for quote in "'\""),
        re.compile(rf"((?:['\"])(?:{_FIELD})['\"]\s*:\s*['\"])[^'\"]*", re.IGNORECASE),
        rf"\1{MASK}",
    ),
    # a friend code in a path: /compare/<code> and /api/compare/<code>
    (("/compare/",), re.compile(r"(/compare/)[^/?#\s\"']+"), rf"\1{MASK}"),
    # an Authorization header's credentials
    (
        ("bearer", "basic"),
        re.compile(r"\b(Bearer|Basic)\s+[^\s'\",}]+", re.IGNORECASE),
        rf"\1 {MASK}",
    ),
    # the session cookie (web/http/session.py's COOKIE), as a header or a Set-Cookie
    (("overlap_session=",), re.compile(r"(overlap_session=)[^;\s\"']+"), rf"\1{MASK}"),
)
# Any substring some rule needs: a line with none (most lines) is searched once, in C.
_ANY_NEEDED = re.compile("|".join(re.escape(n) for needs, _, _ in _RULES for n in needs))
_NEEDS = tuple(re.compile("|".join(map(re.escape, needs))) for needs, _, _ in _RULES)
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
        lowered = text.lower()
        if _ANY_NEEDED.search(lowered) is None:
            return text
        for needs, (_, pattern, replacement) in zip(_NEEDS, _RULES, strict=True):
            if needs.search(lowered):
                text = pattern.sub(replacement, text)
        return text


def escape_controls(text: str) -> str:
    """``text`` with every character that is not printable written as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
