"""The dashboard's dead letters: a message that failed for good is listed with what an
operator needs, and requeued (it then runs once) or deleted, one or a whole queue."""

from __future__ import annotations

import re
import time

import dramatiq
import pytest

from config.redis_ref import RedisRef
from models import AuditEntry
from ops import dead_letters as dead
from tests.ops.test_dead_letters import bury

ONE_REQUEUE = re.compile(r'action="/admin/dead/\w+/[0-9a-f-]{36}/requeue"')


def eventually(check, seconds: float = 10) -> None:
    """Wait for ``check()``: a worker acknowledges (or dead-letters) after it returns."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def admin(web, signed_in_web):
    signed_in_web("emma")
    return web


@pytest.fixture
def flaky(broker):
    """An untracked actor on the artists queue that fails until told not to; its calls."""
    state = {"fail": True, "calls": []}

    @dramatiq.actor(broker=broker, queue_name="artists", max_retries=0, actor_name="flaky")
    def flaky_actor(n: int) -> None:
        state["calls"].append(n)
        if state["fail"]:
            raise RuntimeError(f"flaky <{n}> failed")

    return state


def test_a_message_that_failed_for_good_is_listed_and_runs_once_when_requeued(
    admin, broker, worker, flaky
):
    # Given a message that failed its only try on a real worker.
    ref = RedisRef.of(broker)
    broker.get_actor("flaky").send(7)
    eventually(lambda: dead.count_dead(ref, "artists") == 1)
    assert flaky["calls"] == [7]
    page = admin.get("/admin/dead", params={"queue": "artists"})
    assert "flaky" in page.text and "RuntimeError: flaky &lt;7&gt; failed" in page.text
    [dead_id] = re.findall(r'action="/admin/dead/artists/([0-9a-f-]{36})/requeue"', page.text)

    # When the operator requeues it (twice, as a double click would).
    flaky["fail"] = False
    token = csrf(page)
    answer = admin.post(f"/admin/dead/artists/{dead_id}/requeue", {"csrf_token": token})
    again = admin.post(
        f"/admin/dead/artists/{dead_id}/requeue", {"csrf_token": token}, expect_errors=True
    )
    eventually(lambda: len(flaky["calls"]) == 2)
    worker.join()
    time.sleep(0.5)  # time enough for a second run, were there one

    # Then it ran exactly once more, left the dead letters, and the action is on record.
    assert answer.status_int == 303 and "notice=requeued" in answer.headers["Location"]
    assert again.status_int == 404
    assert flaky["calls"] == [7, 7]
    assert dead.count_dead(ref, "artists") == 0
    [entry] = AuditEntry.select()
    assert (entry.who, entry.action, entry.target, entry.count) == (
        "admin:emma", "requeue", f"dead:artists:{dead_id}", 1
    )  # fmt: skip


def test_deleting_one_and_then_all_of_a_queue_after_confirming_the_count(admin, broker):
    ref = RedisRef.of(broker)
    ids = [bury(ref, "bulk", "update_artist", [f"x{i}"]) for i in range(3)]
    page = admin.get("/admin/dead", params={"queue": "bulk"})
    token = csrf(page)

    admin.post(f"/admin/dead/bulk/{ids[0]}/delete", {"csrf_token": token})
    assert dead.count_dead(ref, "bulk") == 2

    confirm = admin.get("/admin/dead/bulk/all/delete")
    assert "2 dead messages of the bulk queue will be deleted" in confirm.text
    answer = admin.post("/admin/dead/bulk/all/delete", {"csrf_token": token})
    assert "n=2" in answer.headers["Location"]
    assert dead.count_dead(ref, "bulk") == 0
    assert [(e.action, e.count) for e in AuditEntry.select().order_by(AuditEntry.id)] == [
        ("delete", 1),
        ("delete", 2),
    ]


def test_requeue_all_puts_a_whole_queue_back(admin, broker):
    ref = RedisRef.of(broker)
    for i in range(60):
        bury(ref, "bulk", "update_artist", [f"x{i}"])
    page = admin.get("/admin/dead", params={"queue": "bulk"})
    assert len(ONE_REQUEUE.findall(page.text)) == 50 and "Older dead letters" in page.text
    older = re.search(r'href="(/admin/dead\?queue=bulk&amp;skip=50)"', page.text).group(1)
    assert len(ONE_REQUEUE.findall(admin.get(older.replace("&amp;", "&")).text)) == 10

    answer = admin.post("/admin/dead/bulk/all/requeue", {"csrf_token": csrf(page)})

    assert "n=60" in answer.headers["Location"]
    assert dead.count_dead(ref, "bulk") == 0 and ref.client.llen(ref.key("bulk")) == 60


def test_dead_letter_actions_refuse_non_admins_missing_csrf_and_bad_names(
    admin, web, signed_in_web, broker
):
    ref = RedisRef.of(broker)
    dead_id = bury(ref, "bulk", "update_artist", ["x"])
    token = csrf(admin.get("/admin/dead"))
    assert web.post(f"/admin/dead/bulk/{dead_id}/delete", expect_errors=True).status_int == 403
    # (an unknown queue; ids no message has: "²" and "١" are alphanumeric, not ASCII)
    for which in (
        "nope/all",
        "bulk/<b>",
        "bulk/%C2%B2",
        f"bulk/{dead_id}%D9%A1",
        "bulk/" + "a" * 65,
    ):
        path = f"/admin/dead/{which}/delete"
        refused = admin.post(path, {"csrf_token": token}, expect_errors=True)
        assert refused.status_int == 404, path
        assert (
            "queue by that name" in refused.text or "no dead message with that id" in refused.text
        )
    signed_in_web("cleo")
    token = csrf(web.get("/admin", expect_errors=True))
    for path in (f"/admin/dead/bulk/{dead_id}/delete", "/admin/dead/bulk/all/requeue"):
        assert web.post(path, {"csrf_token": token}, expect_errors=True).status_int == 403
    assert web.get("/admin/dead", expect_errors=True).status_int == 403
    assert dead.count_dead(ref, "bulk") == 1 and not AuditEntry.select().exists()


def test_the_page_after_deleting_one_names_what_was_done_on_that_queue(admin, broker):
    ref = RedisRef.of(broker)
    [dead_id] = [bury(ref, "bulk", "update_artist", ["x0"])]
    token = csrf(admin.get("/admin/dead", params={"queue": "bulk"}))

    answer = admin.post(f"/admin/dead/bulk/{dead_id}/delete", {"csrf_token": token})

    location = answer.headers["Location"]
    assert location.count("?") == 1
    after = answer.follow()
    assert "1 dead messages were deleted." in after.text
    assert 'value="bulk" selected' in after.text or "queue=bulk" in after.request.url
