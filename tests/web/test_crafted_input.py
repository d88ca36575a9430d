"""Crafted input that once gave a 500 is a 4xx with a sentence, and what the web process
logs about a request stays on one line whatever the request held."""

from __future__ import annotations

import logging

from web.http.log_safe import escape_controls, safe_logger


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


def test_control_characters_in_a_logged_path_are_escaped_onto_one_line(web, caplog):
    def boom(rest: str) -> None:
        raise RuntimeError("boom")

    web.app.route("/boom/<rest:re:[\\s\\S]*>", callback=boom)
    with caplog.at_level(logging.ERROR):
        answer = web.get("/boom/x%0D%0AFAKE%20entry%1B[31m", expect_errors=True)

    assert answer.status_int == 500 and "Traceback" not in answer.text
    lines = [r.getMessage() for r in caplog.records if "unhandled error" in r.getMessage()]
    assert len(lines) == 1
    assert "\n" not in lines[0] and "\r" not in lines[0] and "\x1b" not in lines[0]
    assert "x\\r\\nFAKE entry\\x1b[31m" in lines[0]


def test_every_web_logger_line_is_one_line(caplog):
    logger = safe_logger("web.test_crafted_input")
    with caplog.at_level(logging.INFO, logger="web.test_crafted_input"):
        logger.info("sign-in failed: %s", "bad\nINFO forged line\u2028")

    assert caplog.records[-1].getMessage() == "sign-in failed: bad\\nINFO forged line\\u2028"
    assert escape_controls("plain é") == "plain é"
