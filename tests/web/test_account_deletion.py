"""Deleting an account leaves nothing about the person in Redis (comparison entries and
latest results both ways, the library stamp, the guess count and compute budget), cancels
their jobs, and the id is never given to the next person."""

from __future__ import annotations

import re
import time

from config.redis_ref import RedisRef
from models import JobRun, User, current_month
from models.job_run import CANCELLED, QUEUED, RUNNING, SUCCEEDED
from sync.library_stamps import LibraryStamps
from tests.web.comparing import opened
from web.state.comparison_cache import ComparisonCache


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def keys_naming(keys: set[str], user_id: int) -> set[str]:
    """The keys with ``user_id`` as one of their ':'-separated parts."""
    return {k for k in keys if str(user_id) in k.split(":")[1:]}


def test_deleting_an_account_removes_every_redis_key_about_the_person(
    web, signed_in_web, sign_in, broker
):
    ref = RedisRef(broker.client, broker.namespace)
    ben = sign_in("ben")
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    token = csrf(web.get("/"))
    LibraryStamps(ref).touch([cleo.id, ben.id])
    opened(web, ben)
    web.get(f"/api/compare/{ben.friend_code}")  # cleo's side, through the app
    ComparisonCache(ref).compare(ben, cleo, current_month(), limit=50, offset=0, sort="name")
    web.post("/compare", {"friend_code": "ZZZZZZZZZZ", "csrf_token": token}, status=404)

    def listed() -> set[str]:
        return {k.decode() for k in broker.client.scan_iter(f"{broker.namespace}:*")}

    before = listed()
    # (How long each key had left: the gate's slot keys live about one interval, and may
    # run out by themselves before the deletion is over on a loaded machine.)
    read_at = time.monotonic()
    left_ms = {k: broker.client.pttl(k) for k in before}
    about_cleo = keys_naming(before, cleo.id)
    kinds = {k.split(":")[1] for k in about_cleo}
    assert kinds >= {
        "library-stamp", "comparison", "comparison-latest", "guesses", "comparison-budget"
    }  # fmt: skip
    assert any(k.split(":")[2] == str(ben.id) for k in about_cleo)  # ben's side too

    web.post("/account/delete", {"csrf_token": token})

    after = listed()
    assert keys_naming(after, cleo.id) == set(), sorted(keys_naming(after, cleo.id))
    # Nothing else went, but for keys that ran out by themselves meanwhile (-2: already).
    waited_ms = (time.monotonic() - read_at) * 1000
    ran_out = {k for k in before - after if left_ms[k] == -2 or 0 < left_ms[k] <= waited_ms}
    assert after == before - about_cleo - ran_out
    assert all(re.fullmatch(r"[^:]+:spotify-gate:[^:]+:tat", k) for k in ran_out), ran_out
    assert LibraryStamps(ref)._key(ben.id) in after


def test_deleting_an_account_cancels_its_jobs(web, signed_in_web):
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    subject = f"user:{cleo.id}"
    JobRun.update(status=SUCCEEDED).execute()  # the sign-in's sync: finished

    def job(message_id: str, actor: str, status: str) -> None:
        JobRun.open(message_id=message_id, actor=actor, args=[cleo.id], subject=subject,
                    queue="interactive", status=status)  # fmt: skip

    job("waiting", "update_user", QUEUED)
    job("running", "another_actor", RUNNING)

    web.post("/account/delete", {"csrf_token": csrf(web.get("/"))})

    left = {j.message_id: j for j in JobRun.select().where(JobRun.subject == subject)}
    # The finished row is gone; the waiting one is cancelled (its message will be skipped);
    # the running one is asked to stop at its next page.
    assert set(left) == {"waiting", "running"}
    assert left["waiting"].status == CANCELLED
    assert left["running"].cancel_requested and left["running"].status == RUNNING


def test_a_deleted_persons_id_is_never_given_to_the_next_person(web, signed_in_web, sign_in):
    sign_in("ben")
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")  # the newest id
    web.post("/account/delete", {"csrf_token": csrf(web.get("/"))})

    dmitri = sign_in("dmitri")

    assert dmitri.id > cleo.id
