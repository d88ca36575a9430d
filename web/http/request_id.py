"""Every request's id: logged on each of its lines, sent back as ``X-Request-ID`` and
carried into the jobs it sends (jobs/queueing.py puts it in the message's options).

An id a trusted proxy sends (``FORWARDED_ALLOW_IPS``, the rule of client_address.py) is
kept, so that one id follows a request from the proxy's log into ours; it must be 1 to 64
letters, digits, ``.``, ``_`` or ``-``. Any other id, or one from anyone else, is replaced:
a client must not write what it likes into the logs, nor pass for another request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import bottle

from config import logs
from web.http.client_address import ClientAddress

HEADER = "X-Request-ID"
VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ENVIRON_KEY = "overlap.request_id"


def request_id_for(environ: dict, client_address: ClientAddress) -> str:
    """The id a trusted proxy gave the request, if valid, else a new one."""
    offered = environ.get("HTTP_X_REQUEST_ID", "")
    peer = environ.get("REMOTE_ADDR") or ""
    if offered and VALID_ID.fullmatch(offered) and client_address.trusted(peer):
        return offered
    return uuid.uuid4().hex


def begin_request(client_address: ClientAddress) -> Callable[[], None]:
    """The before_request hook: the request's id, in its environ and its log context."""

    def hook() -> None:
        environ = bottle.request.environ
        request_id = request_id_for(environ, client_address)
        environ[_ENVIRON_KEY] = request_id
        # A new context: nothing of the thread's previous request (its user) carries over.
        logs.begin(request_id=request_id)

    return hook


def send_request_id() -> None:
    """Put the request's id on the answer (an after_request hook, and the error pages)."""
    request_id = bottle.request.environ.get(_ENVIRON_KEY)
    if request_id:
        bottle.response.set_header(HEADER, request_id)
