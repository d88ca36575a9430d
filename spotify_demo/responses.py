"""Responses as Spotify shapes them: JSON bodies, Spotify error objects, small HTML pages."""

from __future__ import annotations

import html
import json
from typing import Any

from bottle import HTTPResponse, request

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
a.button{{display:block;margin:.5rem 0;padding:.6rem 1rem;border:1px solid #1db954;
border-radius:2rem;color:#000;text-decoration:none}}</style></head>
<body>
{body}
</body>
</html>
"""


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """A JSON response, UTF-8 encoded as Spotify sends it."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return HTTPResponse(
        body=body.encode(), status=status, headers={"Content-Type": JSON_TYPE, **(headers or {})}
    )


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    """The Web API's error shape: ``{"error": {"status": ..., "message": ...}}``."""
    return json_response({"error": {"status": status, "message": message}}, status, headers)


def oauth_error(status: int, error: str, description: str) -> HTTPResponse:
    """The accounts service's error shape: ``{"error": ..., "error_description": ...}``."""
    return json_response({"error": error, "error_description": description}, status)


def html_page(
    title: str, body: str, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """A small HTML page; ``title`` is escaped here, ``body`` must already be safe HTML."""
    text = _PAGE.format(title=html.escape(title), body=body)
    return HTTPResponse(
        body=text.encode(), status=status, headers={"Content-Type": HTML_TYPE, **(headers or {})}
    )


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    """An HTML error page saying ``message`` (escaped)."""
    body = f"<h1>{status}</h1>\n<p>{html.escape(message)}</p>"
    return html_page(f"{status} · demo Spotify", body, status, headers)


def base_url() -> str:
    """The scheme and host the current request came to, for absolute links."""
    parts = request.urlparts
    return f"{parts.scheme}://{parts.netloc}"
