"""One logging setup for every process: web, worker, scheduler and the ``overlap`` command.

Each process calls ``configure(settings, role)`` once at start (gunicorn through
``dict_config`` in web/gunicorn_config.py). Every line then goes to stderr as text for a
terminal (``LOG_FORMAT=text``) or as one JSON object (``LOG_FORMAT=json``), and carries:

- ``time`` (UTC, ISO 8601 with ``Z``), ``level``, ``role`` (web, worker, scheduler, cli),
  ``logger`` and ``message``;
- where they apply, what the code is doing: ``request_id``, ``user_id`` (the web request),
  ``message_id``, ``actor``, ``job_id`` (the message a worker runs), bound here as context
  variables by the web's request hooks and the worker's ``LogContext`` middleware;
- ``error``: the traceback, when the line has one;
- on gunicorn's access lines, ``method``, ``path``, ``status``, ``duration_ms`` and
  ``client`` as fields of their own.

The formatter is the one place that masks what must never be logged and escapes control
characters (config/log_mask.py), for both formats, the access log included.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from config.log_mask import Masker, escape_controls
from config.settings import Settings

ROLES = ("web", "worker", "scheduler", "cli")
# The context fields, in the order a text line shows them.
CONTEXT_FIELDS = ("request_id", "user_id", "message_id", "actor", "job_id")
# gunicorn's access line: the time, the level and the request id are fields of the line
# already, so the format keeps only what the request was and how it went.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
_ACCESS_FIELDS = {"method": "m", "status": "s", "duration_ms": "M", "client": "h"}

_context: ContextVar[Mapping[str, str] | None] = ContextVar("overlap_log_context", default=None)


# Logging is set up once per process, so its role is the process's: kept here, not passed.
_configured_role: list[str] = []


def current() -> Mapping[str, str]:
    """The context fields bound in this thread (or task) now."""
    return _context.get() or {}


def begin(**fields: object) -> Token[Mapping[str, str] | None]:
    """Start a new context (a request, a message): only ``fields``, the rest dropped."""
    return _context.set({k: str(v) for k, v in fields.items() if v is not None})


def bind(**fields: object) -> Token[Mapping[str, str] | None]:
    """Add ``fields`` to the current context (None values are left out)."""
    added = {k: str(v) for k, v in fields.items() if v is not None}
    return _context.set({**current(), **added})


def utc_time(created: float) -> str:
    """A record's time as ISO 8601 in UTC with milliseconds and a ``Z``."""
    stamp = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class _Fields:
    """What every line carries, masked and on one line, for either format."""

    def __init__(self, role: str, masker: Masker) -> None:
        self.role = role
        self.mask = masker

    def clean(self, text: str) -> str:
        return escape_controls(self.mask(text))

    def of(self, record: logging.LogRecord, traceback: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "time": utc_time(record.created),
            "level": record.levelname,
            "role": self.role,
            "logger": record.name,
            "message": self.clean(record.getMessage()),
        }
        # Escaped too: a message's request_id option comes from whoever could write to Redis.
        fields.update({name: self.clean(value) for name, value in current().items()})
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            fields.update(self._access(record.args))
        if traceback:
            # Kept on several lines in a terminal; JSON writes it as one string.
            fields["error"] = self.mask(traceback)
        return fields

    def _access(self, atoms: Mapping[str, Any]) -> dict[str, Any]:
        """gunicorn's atoms of an access line (a missing one reads ``-``)."""
        fields = {name: atoms.get(atom, "-") for name, atom in _ACCESS_FIELDS.items()}
        query = atoms.get("q", "-")
        path = str(atoms.get("U", "-")) + (f"?{query}" if query and query != "-" else "")
        fields["path"] = self.clean(path)
        for name in ("status", "duration_ms"):
            try:
                fields[name] = int(fields[name])
            except (TypeError, ValueError):
                fields.pop(name)
        request_id = atoms.get("{x-request-id}o", "-")
        if request_id and request_id != "-":
            fields["request_id"] = self.clean(request_id)
        return fields


class TextFormatter(logging.Formatter):
    """``2026-01-31T12:00:00.000Z INFO    web  logger: message  request_id=… user_id=…``."""

    def __init__(self, role: str, masker: Masker) -> None:
        super().__init__()
        self.fields = _Fields(role, masker)

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text (and its traceback below, if any)."""
        traceback = self.formatException(record.exc_info) if record.exc_info else None
        fields = self.fields.of(record, traceback)
        context = " ".join(f"{k}={fields[k]}" for k in CONTEXT_FIELDS if k in fields)
        line = (
            f"{fields['time']} {fields['level']:<7} {fields['role']:<9} "
            f"{fields['logger']}: {fields['message']}"
        )
        line = f"{line}  {context}" if context else line
        return f"{line}\n{fields['error']}" if "error" in fields else line


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line, with the fields of ``_Fields``."""

    def __init__(self, role: str, masker: Masker) -> None:
        super().__init__()
        self.fields = _Fields(role, masker)

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        """Fill the object with our fields only (not python-json-logger's defaults)."""
        # logging's own: python-json-logger's may give the traceback as a list of lines.
        exc_info = record.exc_info
        traceback = logging.Formatter.formatException(self, exc_info) if exc_info else None
        log_data.update(self.fields.of(record, traceback))


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is written: a dramatiq worker
    process points it at the pipe its master reads, after this handler was made."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    # A property reading the current stderr, as logging's own last-resort handler does.
    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def formatter(settings: Settings, role: str) -> logging.Formatter:
    """The formatter of ``settings.log_format`` for a process of ``role``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    masker = Masker(known_secrets(settings))
    if settings.log_format == "json":
        return JsonLineFormatter(role, masker)
    return TextFormatter(role, masker)


def known_secrets(settings: Settings) -> tuple[str, ...]:
    """The app's own secrets, masked by value wherever they would appear."""
    return (
        settings.spotify_client_secret,
        settings.secret_key,
        *settings.token_keys,
        settings.metrics_token or "",
    )


def configured_role() -> str | None:
    """The role ``configure`` was last given in this process (a forked one inherits it)."""
    return _configured_role[0] if _configured_role else None


def configure(settings: Settings, role: str) -> None:
    """Send every logger's lines to stderr through the one formatter, at LOG_LEVEL."""
    _configured_role[:] = [role]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(formatter(settings, role))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name, level in quieted(settings).items():
        logging.getLogger(name).setLevel(level)
    # Python's warnings (a deprecation, a resource left open) become log lines too.
    logging.captureWarnings(True)


# Loggers kept at INFO or above whatever LOG_LEVEL says: at DEBUG peewee writes every
# query with its parameters, which hold friend codes, in a shape no mask can read.
NEVER_DEBUG = ("peewee",)


def quieted(settings: Settings) -> dict[str, str]:
    """The loggers of NEVER_DEBUG with the level they keep."""
    level = settings.log_level if settings.log_level != "DEBUG" else "INFO"
    return dict.fromkeys(NEVER_DEBUG, level)


def dict_config(settings: Settings, role: str) -> dict[str, Any]:
    """``configure`` as a ``logging.config.dictConfig`` dict: gunicorn's ``logconfig_dict``,
    which takes gunicorn's own loggers (errors and the access log) into the same lines."""
    level = settings.log_level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"overlap": {"()": formatter, "settings": settings, "role": role}},
        "handlers": {"stderr": {"()": StderrHandler, "formatter": "overlap"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{
                name: {"level": level, "handlers": [], "propagate": True}
                for name in ("gunicorn.error", "gunicorn.access")
            },
            **{
                name: {"level": kept, "handlers": [], "propagate": True}
                for name, kept in quieted(settings).items()
            },
        },
    }
