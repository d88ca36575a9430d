"""Bodies the app has no use for are refused from their headers, before being read."""

from __future__ import annotations

import io

import pytest
import webtest

from web.http.body_limit import MAX_BODY_BYTES


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def read(self, *_: object) -> bytes:
        raise AssertionError("the body was read")

    readline = readinto = read


def post(web, path: str, content_type: str, length: int | None, **headers: str):
    request = webtest.TestRequest.blank(path, method="POST", headers=headers)
    request.environ["wsgi.input"] = Unreadable()
    request.environ["CONTENT_TYPE"] = content_type
    if length is None:
        request.environ.pop("CONTENT_LENGTH", None)
    else:
        request.environ["CONTENT_LENGTH"] = str(length)
    return web.do_request(request, status=None, expect_errors=True)


@pytest.mark.parametrize("path", ["/logout", "/compare", "/api/jobs/1/cancel", "/nowhere"])
def test_a_body_over_the_limit_is_a_413_without_being_read(web, path):
    answer = post(web, path, "application/x-www-form-urlencoded", 30 * 1024 * 1024)

    assert answer.status_int == 413
    assert "too large" in answer.text


def test_any_multipart_body_is_a_413_without_being_read(web):
    answer = post(web, "/logout", "multipart/form-data; boundary=x", 100)

    assert answer.status_int == 413 and "multipart" in answer.text


def test_a_chunked_body_of_unknown_length_is_a_411(web):
    answer = post(web, "/compare", "text/plain", None, **{"Transfer-Encoding": "chunked"})

    assert answer.status_int == 411


def test_a_small_form_still_goes_through(web, signed_in_web, csrf_of):
    signed_in_web("cleo")
    token = csrf_of(web.get("/"))
    body = {"csrf_token": token, "friend_code": "x" * (MAX_BODY_BYTES // 2)}

    answer = web.post("/compare", body, expect_errors=True)

    assert answer.status_int == 400  # read, and refused as no friend code
