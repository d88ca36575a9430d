"""Loggers whose lines escape control characters.

A request's path, query and headers are the client's text: a path with ``%0D%0A`` in it
would otherwise write a second, made-up line into the log. Every logger of the web process
comes from ``safe_logger``, whose filter formats the message and escapes what is not
printable (``\\r``, ``\\n``, ``\\x1b``, ...), so one record is always one line.
"""

from __future__ import annotations

import logging


def escape_controls(text: str) -> str:
    """``text`` with every character that is not printable written as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class EscapeControls(logging.Filter):
    """Formats each record's message once and escapes its control characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escape_controls(record.getMessage())
        record.args = None
        return True


_FILTER = EscapeControls()


def safe_logger(name: str) -> logging.Logger:
    """The logger ``name`` with the escaping filter on it (added once)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
