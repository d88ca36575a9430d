"""Every answer carries the request's id (``X-Request-ID``): the one a trusted proxy sent,
when it is well formed, else a new one. The request's log lines carry it, with the
signed-in person's id, and so do the jobs it sends."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from actors.testing import enqueued
from config import logs
from jobs.queueing import INTERACTIVE_QUEUE, REQUEST_ID_OPTION

NEW_ID = re.compile(r"[0-9a-f]{32}")
PROXY = {"REMOTE_ADDR": "127.0.0.1"}  # FORWARDED_ALLOW_IPS' default
STRANGER = {"REMOTE_ADDR": "203.0.113.9"}


def test_each_answer_has_a_new_id_of_its_own(web):
    first = web.get("/healthz").headers["X-Request-ID"]
    second = web.get("/healthz").headers["X-Request-ID"]

    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second) and first != second


def test_an_id_a_trusted_proxy_sends_is_kept(web):
    answer = web.get("/healthz", headers={"X-Request-ID": "edge-7.f_Q"}, extra_environ=PROXY)
    assert answer.headers["X-Request-ID"] == "edge-7.f_Q"


@pytest.mark.parametrize(
    ("offered", "environ"),
    [
        ("edge-7", STRANGER),  # well formed, but not from a proxy of ours
        ("has space", PROXY),
        ("x" * 65, PROXY),
        ("line\r\nbreak", PROXY),
        ("", PROXY),
    ],
)
def test_any_other_id_is_replaced(web, offered, environ):
    answer = web.get("/healthz", headers={"X-Request-ID": offered}, extra_environ=environ)
    assert NEW_ID.fullmatch(answer.headers["X-Request-ID"])


def test_an_error_page_has_its_id_too(web):
    answer = web.get("/no/such/page", expect_errors=True)
    assert answer.status_int == 404 and NEW_ID.fullmatch(answer.headers["X-Request-ID"])


def test_a_request_s_lines_carry_its_id_and_the_signed_in_person(web, signed_in_web, settings):
    signed_in_web("cleo")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logs.formatter(settings.but(log_format="json"), "web"))
    logger = logging.getLogger("web.test_request_id")
    logger.addHandler(handler)
    web.app.route("/say", callback=lambda: logger.warning("said") or "ok")
    try:
        answer = web.get("/api/me")
        said = web.get("/say", headers={"X-Request-ID": "r-42"}, extra_environ=PROXY)
    finally:
        logger.removeHandler(handler)

    line = json.loads(lines.getvalue())
    assert said.headers["X-Request-ID"] == line["request_id"] == "r-42"
    # /say never asks who is signed in: the user id of the request before is not kept.
    assert "user_id" not in line and answer.json["spotify_id"] == "cleo"


def test_the_sync_a_sign_in_sends_carries_the_sign_in_s_request_id(web, signed_in_web, broker):
    callback = signed_in_web("cleo")

    [message] = enqueued(broker, INTERACTIVE_QUEUE)
    assert message.actor_name == "update_user"
    assert message.options[REQUEST_ID_OPTION] == callback.headers["X-Request-ID"]
