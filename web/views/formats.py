"""How the pages write numbers and times for people.

Numbers carry thousands separators ("1,984"). A time is a ``<time datetime>`` element whose
text, written here in UTC without seconds, is the fallback: ``static/local-time.js``
rewrites it in the reader's own time zone (which only the browser knows). The operations
dashboard keeps UTC, the one clock its readers share, and does not use these.
"""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape

# What each style shows before the script localises it (the script shows the same parts).
_FALLBACK = {
    "time": "%H:%M UTC",
    "datetime": "%-d %b %Y, %H:%M UTC",
    "date": "%-d %b %Y",
}


def thousands(value: int | None) -> str:
    """``value`` with thousands separators; an empty string for None."""
    return "" if value is None else f"{value:,}"


def local_time(value: dt.datetime | None, style: str = "time") -> Markup:
    """A ``<time>`` element for ``value`` (naive UTC, as the columns store it, or aware),
    which the page's script shows in the reader's time zone."""
    if value is None:
        return Markup("")
    if style not in _FALLBACK:
        raise ValueError(f"no time style {style!r}")
    utc = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    iso = utc.strftime("%Y-%m-%dT%H:%MZ")
    text = utc.strftime(_FALLBACK[style])
    return Markup('<time datetime="{}" data-local="{}">{}</time>').format(iso, escape(style), text)
