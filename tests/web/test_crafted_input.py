"""Crafted input that once gave a 500 is a 4xx with a sentence, and what the web process
logs about a request stays on one line whatever the request held."""

from __future__ import annotations

import logging

from config.log_mask import escape_controls
from config.logs import formatter


def test_a_state_with_non_ascii_characters_is_a_400_that_says_to_sign_in_again(web):
    web.get("/login")  # the session now expects a state

    answer = web.get("/callback?state=%C3%A9&code=x", expect_errors=True)

    assert answer.status_int == 400
    assert "Please sign in again" in answer.text


def test_a_signed_out_visitor_with_a_line_break_in_a_friend_code_is_not_a_500(web, sign_in):
    code = sign_in("ben").friend_code

    for sent in ("PQJ67%0D%0A45B7C", f"{code[:5]}%0D%0A{code[5:]}"):
        for headers in ({}, {"HX-Request": "true"}):  # the welcome page, and straight to sign-in
            answer = web.get(f"/compare/{sent}", headers=headers, expect_errors=True)
            assert answer.status_int in (200, 303, 404), (sent, answer.status)
            assert all("\r" not in v and "\n" not in v for _, v in answer.headerlist)
    assert answer.headers["Location"].endswith(f"/login?next=/compare/{code}")


def test_control_characters_in_a_logged_path_are_escaped_onto_one_line(web, caplog, settings):
    def boom(rest: str) -> None:
        raise RuntimeError("boom")

    web.app.route("/boom/<rest:re:[\\s\\S]*>", callback=boom)
    with caplog.at_level(logging.ERROR):
        answer = web.get("/boom/x%0D%0AFAKE%20entry%1B[31m", expect_errors=True)

    assert answer.status_int == 500 and "Traceback" not in answer.text
    # As the one log formatter writes them, in either format.
    records = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert len(records) == 1
    for log_format in ("text", "json"):
        line = formatter(settings.but(log_format=log_format), "web").format(records[0])
        assert "\n" not in line and "\r" not in line and "\x1b" not in line
        assert "x\\r\\nFAKE entry\\x1b[31m" in line.replace("\\\\", "\\")


def test_every_log_line_is_one_line(caplog, settings):
    logger = logging.getLogger("web.test_crafted_input")
    with caplog.at_level(logging.INFO, logger="web.test_crafted_input"):
        logger.info("sign-in failed: %s", "bad\nINFO forged line\u2028")

    line = formatter(settings, "web").format(caplog.records[-1])
    assert "web.test_crafted_input: sign-in failed: bad\\nINFO forged line\\u2028" in line
    assert escape_controls("plain é") == "plain é"
