"""Bad input on the queue pages gets a clear answer and changes nothing. Hypothesis sends
the admin's queue routes (a queue's pages, its purge's confirmation, deleting one message,
purging) with one part wrong at a time: a queue that does not exist (or is one of the
broker's own, such as ``bulk.DQ``), a message id that is malformed, unknown or another
queue's, a kind or page of messages that does not exist, or no valid CSRF token. Each is a
400, 403 or 404 saying what was wrong, and every table and queue is as it was.

A fixed seed, so every run sends the same requests, as in ``test_routes_property.py``,
whose app and roles this test shares."""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from config.redis_ref import RedisRef
from jobs.queueing import QUEUES, build_message
from models import JobRun
from ops import queue_messages as messages
from tests.web.test_routes_property import (  # noqa: F401
    FUZZ,
    NUMBERS,
    _check,
    _send,
    escaped,
    web,
    world,
)

NO_QUEUE = "There is no queue by that name."
NO_PAGE = "That page of the queue does not exist."
NO_MESSAGE = "There is no message with that id."
GONE = "That message is no longer on the queue"
EXPIRED = "This form has expired."
NOT_FOUND = "There is no page at this address."  # the router's own, for a path it cannot match
# Names near the real ones: another case, a space, the broker's delay and dead-letter queues.
NEAR_QUEUES = ("Bulk", "BULK", "bulk ", " bulk", "bulk.DQ", "bulk.XQ", "default", "bulk%00",
               "bulk%2F..", "%2E%2E", "bulk%0A", "b%C3%BClk")  # fmt: skip
NEAR_KINDS = ("Waiting", "dead", "failed", "waiting ", "delayed%00", "all", "retrying,waiting")


# Pages that are no number, and pages past the end of a queue of 3 waiting messages.
MALFORMED_SKIPS = (*(n for n in NUMBERS if n != "0"), "-50", "5.0", "0x32", "1e2", "9" * 10)
PAST_THE_END = ("3", "50", "100", "999999999")


@pytest.fixture
def queued(broker) -> dict[str, list[str]]:
    """On bulk 3 waiting messages (one a person's sync with its job row) and 2 delayed; on
    artists one waiting. No worker runs, so they stay. Their ids, by where they wait."""
    sync = build_message("update_user", "bulk", [999])
    JobRun.open(message_id=sync.message_id, actor="update_user", args=[999],
                subject="user:999", queue="bulk")  # fmt: skip
    broker.enqueue(sync)
    for i in range(2):
        broker.enqueue(build_message("update_artist", "bulk", [f"4Z8W4fKeB5YxbusRsdQV{i:02d}"]))
    for i in range(2):
        late = build_message("update_artist", "bulk", [f"0TnOYISbd1XYRBk9myaseg{i}"])
        broker.enqueue(late, delay=3_600_000)
    broker.enqueue(build_message("update_artist", "artists", ["0TnOYISbd1XYRBk9myasegA"]))
    ref = RedisRef.of(broker)
    ids = {
        f"{queue} {kind}": [m.id for m in messages.read_queue(ref, queue, kind)[0].messages]
        for queue, kind in (("bulk", "waiting"), ("bulk", "delayed"), ("artists", "waiting"))
    }
    assert [len(found) for found in ids.values()] == [3, 2, 1]
    return ids


def bad_queues():
    """Queue names that are not one of ours, as sent in a path."""
    return st.one_of(st.sampled_from(NEAR_QUEUES), escaped).filter(
        lambda q: q and unquote(q) not in QUEUES
    )


@st.composite
def bad_requests(draw, queued: dict[str, list[str]]):
    """(what is wrong, method, path, form fields, token) of one queue route with one part
    wrong; every other part is right: bulk, a real message of it, this session's token."""
    route = draw(st.sampled_from(("page", "confirm", "delete", "purge")))
    parts = {"page": ("queue", "kind", "skip"), "confirm": ("queue",),
             "delete": ("queue", "id", "token"), "purge": ("queue", "token")}[route]  # fmt: skip
    wrong = draw(st.sampled_from(parts))
    queue = draw(bad_queues()) if wrong == "queue" else "bulk"
    real = draw(st.sampled_from(queued["bulk waiting"] + queued["bulk delayed"]))
    token = draw(st.sampled_from(("none", "garbage", "empty", "another session's")))
    if route == "page":
        kind = draw(st.sampled_from(NEAR_KINDS)) if wrong == "kind" else "waiting"
        skip = "0"
        if wrong == "skip":
            skip = draw(st.sampled_from(MALFORMED_SKIPS) | st.sampled_from(PAST_THE_END))
        return wrong, "GET", f"/admin/queues/{queue}?kind={kind}&skip={skip}", None, "valid"
    if route == "confirm":
        return wrong, "GET", f"/admin/queues/{queue}/purge", None, "valid"
    if route == "delete":
        message = real
        if wrong == "id":
            message = draw(
                st.one_of(
                    escaped.filter(lambda m: m and "%2F" not in m.upper()),
                    st.just(str(uuid.uuid4())),  # well formed, on no queue
                    st.sampled_from(queued["artists waiting"]),  # another queue's
                    st.just(quote(real.upper() + "²")),
                )
            )
        path = f"/admin/queues/{queue}/messages/{message}/delete"
        return wrong, "POST", path, {"kind": "waiting"}, token if wrong == "token" else "valid"
    return wrong, "POST", f"/admin/queues/{queue}/purge", {}, token if wrong == "token" else "valid"


ANSWERS = {
    "queue": ((404,), (NO_QUEUE, NOT_FOUND)),
    "kind": ((400,), (NO_PAGE,)),
    "skip": ((400, 404), (NO_PAGE,)),
    "id": ((404,), (NO_MESSAGE, GONE, NOT_FOUND)),
    "token": ((403,), (EXPIRED,)),
}


@settings(FUZZ, max_examples=int(os.environ.get("OVERLAP_FUZZ_EXAMPLES", "100")))
@seed(20240605)
@given(data=st.data())
def test_bad_input_on_the_queue_routes_gets_a_clear_answer_and_changes_nothing(
    world,  # noqa: F811
    queued,
    data,
):
    _, app, become, state = world
    known = become("emma")  # the demo's admin
    wrong, method, path, form, token = data.draw(bad_requests(queued), label="request")
    before = state()
    request = (method, path, {}, form, None, (token, "not-a-token"))

    answer = _send(app, request, known)

    _check(answer, request)
    statuses, sentences = ANSWERS[wrong]
    assert answer.status_int in statuses, (wrong, request, answer.status)
    text = answer.body.decode()
    assert any(sentence in text for sentence in sentences), (wrong, request, text[:300])
    assert state() == before, request


def test_a_page_past_the_end_of_a_queue_says_how_many_messages_it_holds(
    world,  # noqa: F811
    queued,
):
    # Given bulk with 3 waiting messages, and the admin
    admin, _, become, _ = world
    become("emma")

    # When they ask for the second page of 50 (a queue that shrank while they paged)
    answer = admin.get("/admin/queues/bulk?kind=waiting&skip=50", expect_errors=True)

    # Then it is a 404 that says so, not an empty page "Messages 51 to 50 of 3"
    assert answer.status_int == 404
    assert f"{NO_PAGE} The bulk queue holds 3 waiting messages now." in answer.text
    assert admin.get("/admin/queues/bulk?kind=waiting&skip=2").status_int == 200  # the last one
