"""A forced refresh once per person per REFRESH_COOLDOWN_SECONDS: three POSTs in a row make
one sync, and the page says when the next is possible."""

from __future__ import annotations

import datetime as dt
import re

from actors.testing import enqueued
from models import JobRun, User
from models.db import utcnow
from web.state.refresh_cooldown import next_refresh_at


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def signed_in_and_synced_long_ago(web, signed_in_web, broker) -> User:
    signed_in_web("cleo")
    JobRun.update(status="succeeded", enqueued_at=utcnow() - dt.timedelta(hours=1)).execute()
    User.update(last_synced_at=utcnow()).execute()
    broker.flush_all()
    return User.get(User.spotify_id == "cleo")


def test_three_refreshes_in_a_row_make_one_sync_and_say_when_the_next_may_be(
    web, signed_in_web, broker
):
    signed_in_and_synced_long_ago(web, signed_in_web, broker)
    token = csrf(web.get("/"))

    first = web.post("/refresh", {"csrf_token": token})
    JobRun.update(status="succeeded").execute()  # it ran: only the cooldown stands in the way
    second = web.post("/refresh", {"csrf_token": token}, status=429)
    third = web.post("/refresh", {"csrf_token": token}, headers={"HX-Request": "true"})

    assert first.status_int == 303
    assert len(enqueued(broker, "interactive")) == 1
    assert "The next refresh is possible at" in second.text
    assert second.headers["Retry-After"] == "300"
    assert third.status_int == 200 and "Available at" in third.text
    assert "Available at" in web.get("/").text


def test_once_the_cooldown_has_passed_a_refresh_goes_through_again(web, signed_in_web, broker):
    signed_in_and_synced_long_ago(web, signed_in_web, broker)
    token = csrf(web.get("/"))
    web.post("/refresh", {"csrf_token": token})
    JobRun.update(status="succeeded", enqueued_at=utcnow() - dt.timedelta(seconds=301)).execute()

    web.post("/refresh", {"csrf_token": token}, status=303)

    assert len(enqueued(broker, "interactive")) == 2
    JobRun.update(status="succeeded").where(JobRun.status == "queued").execute()
    assert "Available at" in web.get("/").text  # counted from the new one


def test_a_cooldown_of_zero_lets_every_refresh_through(web, signed_in_web, broker):
    cleo = signed_in_and_synced_long_ago(web, signed_in_web, broker)
    JobRun.update(enqueued_at=utcnow()).execute()

    assert next_refresh_at(cleo, 300) is not None
    assert next_refresh_at(cleo, 0) is None
