"""The files under ``static/``, read once, served by names that carry their content's hash.

``/static/style.3f9c0a1b2c.css`` can be cached for a year (``immutable``): a change to the
file changes its name, and the pages name the new one (``url``). The plain name still
answers, with a short cache, for anything that kept an old link. The stylesheet is minified
as it is read (rcssmin), so its source stays readable; text files are also kept gzipped,
for the browsers that accept it (they hold nothing secret, so unlike the pages,
``web/http/compression.py``, they are compressed for any request).

A page may also carry a stylesheet inline (``text``), as the people-facing pages carry
``style.css``: a linked stylesheet blocks the first paint for a round trip, which Lighthouse
measured at 150 ms of a phone's first paint, for 3.7 KB gzipped. The Content-Security-Policy
lets in exactly those texts, by their hashes (``style_hashes``), and no other inline style.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import rcssmin

YEAR_S = 365 * 24 * 3600
HASHED_CACHE = f"public, max-age={YEAR_S}, immutable"
PLAIN_CACHE = "public, max-age=3600"
# Smaller answers gain nothing from gzip (a packet is about this size).
COMPRESS_FROM = 1024
TEXT_TYPES = ("text/", "application/javascript", "image/svg+xml", "application/json")


@dataclass(frozen=True)
class StaticFile:
    """One file's bytes as served, their gzipped form when it is worth it, and its type."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    immutable: bool


def _read(path: Path) -> bytes:
    body = path.read_bytes()
    if path.suffix == ".css":
        body = rcssmin.cssmin(body.decode("utf-8")).encode("utf-8")
    return body


def _content_type(path: Path) -> str:
    guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith(TEXT_TYPES) else guessed


def hashed_name(name: str, body: bytes) -> str:
    """``style.css`` as ``style.<10 hex digits of its content's SHA-256>.css``."""
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(body).hexdigest()[:10]
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


def csp_hash(text: bytes) -> str:
    """The Content-Security-Policy source that lets in an inline element of ``text``."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(text).digest()).decode()}'"


class StaticFiles:
    """Every file of a folder, by its plain and its hashed name."""

    def __init__(self, folder: Path) -> None:
        self._files: dict[str, StaticFile] = {}
        self._urls: dict[str, str] = {}
        hashes = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            body = _read(path)
            content_type = _content_type(path)
            packed = None
            if content_type.startswith(TEXT_TYPES) and len(body) >= COMPRESS_FROM:
                packed = gzip.compress(body, 9, mtime=0)
            hashed = hashed_name(name, body)
            self._files[name] = StaticFile(body, packed, content_type, immutable=False)
            self._files[hashed] = StaticFile(body, packed, content_type, immutable=True)
            self._urls[name] = f"/static/{hashed}"
            if path.suffix == ".css":
                hashes.append(csp_hash(body))
        self.style_hashes = tuple(hashes)

    def url(self, name: str) -> str:
        """The address of ``name`` by its hashed name (a KeyError for a file not there, so
        a template's typo fails its test instead of a browser's load)."""
        return self._urls[name]

    def text(self, name: str) -> str:
        """The text of ``name`` as served (a stylesheet minified), to put inside a page."""
        return self._files[name].body.decode("utf-8")

    def find(self, name: str) -> StaticFile | None:
        """The file served at ``/static/<name>``, or None."""
        return self._files.get(name)
