"""A web or scheduler process's clock against Redis's (ops/clock_watch.py): the offset
corrects its stamps, a skew is said once per change in its log, and its report is read by
the dashboard and ``/metrics``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.redis_ref import RedisRef
from models.db import clock_offset, set_clock_offset
from ops import clock_watch
from ops.clock import RedisClock
from ops.clock_watch import (
    ClockWatch,
    ProcessClock,
    process_clock_skewed,
    process_clocks,
    reports_key,
    write_report,
)
from ops.metrics import render_metrics


@pytest.fixture(autouse=True)
def _offset_left_as_found() -> Iterator[None]:
    yield
    set_clock_offset(0.0)
    clock_watch._watches.clear()


class Host:
    """A host clock the test sets: the real one plus ``skew`` seconds."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def time(self) -> float:
        return time.time() + self.skew


def watch(ref: RedisRef, host: Host, role: str = "scheduler") -> ClockWatch:
    return ClockWatch(ref, role, "it sends no tick", clock=RedisClock(host_time=host.time))


def skew_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_scheduler_120_s_ahead_is_skewed_says_so_once_and_stamps_on_redis_s_clock(
    redis_client, namespace, caplog
):
    ref = RedisRef(redis_client, namespace)
    host = Host(120)
    scheduler = watch(ref, host)

    with caplog.at_level(logging.WARNING, logger="ops.clock_watch"):
        assert scheduler.check() and scheduler.check()  # at start, and a minute later

    assert scheduler.skewed
    [line] = skew_lines(caplog)  # once per change, not once per check
    assert "ahead of Redis's" in line and "it sends no tick" in line
    # Its stamps (utcnow, shared_time) take the correction: its host's clock minus 120 s,
    # which is Redis's clock.
    assert -121 < clock_offset() < -119
    seconds, micros = redis_client.time()
    assert abs(scheduler.clock.now() - (seconds + micros / 1e6)) < 1


def test_a_clock_set_right_again_is_said_once_and_no_longer_skewed(redis_client, namespace, caplog):
    ref = RedisRef(redis_client, namespace)
    host = Host(-120)
    scheduler = watch(ref, host)
    scheduler.check()

    host.skew = 0.0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ops.clock_watch"):
        scheduler.check()
        scheduler.check()

    assert not scheduler.skewed
    [line] = skew_lines(caplog)
    assert "again" in line
    [report] = process_clocks(ref)
    assert not report.skewed and abs(report.offset or 0) < 1


def test_each_process_s_report_is_listed_until_it_expires(redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    ahead, right = watch(ref, Host(120)), watch(ref, Host(0), role="web")
    right.id = "web:other-host:2"
    ahead.check()
    right.check()

    reports = {c.id: c for c in process_clocks(ref)}
    assert set(reports) == {ahead.id, right.id}
    assert reports[ahead.id].skewed and reports[ahead.id].clock.endswith(": it sends no tick")
    assert -122 < (reports[ahead.id].offset or 0) < -118
    assert not reports[right.id].skewed and "it sends no tick" not in reports[right.id].clock
    # A report is good for three checks, on Redis's clock: a process gone drops out.
    [seconds, micros] = redis_client.time()
    expired = ProcessClock(ahead.id, "scheduler", -120.0, True, "it sends no tick")
    write_report(ref, expired, expires_at=seconds + micros / 1e6 - 1)
    assert [c.id for c in process_clocks(ref)] == [right.id]
    assert redis_client.hkeys(reports_key(ref)) == [right.id.encode()]


def test_metrics_give_each_process_s_offset_and_whether_it_is_skewed(db, redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    scheduler = watch(ref, Host(120))
    scheduler.check()

    families = {f.name: f for f in text_string_to_metric_families(render_metrics(ref).decode())}

    [skewed] = families["overlap_process_clock_skewed"].samples
    assert skewed.labels == {"process": scheduler.id, "role": "scheduler"} and skewed.value == 1
    [offset] = families["overlap_process_clock_offset_seconds"].samples
    assert -122 < offset.value < -118


def test_the_process_s_watch_says_whether_its_clock_is_skewed(redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    assert not process_clock_skewed()  # no watch: nothing to hold

    scheduler = watch(ref, Host(-120)).start()  # compares before it returns
    try:
        assert process_clock_skewed()
    finally:
        scheduler.stop()
    assert not process_clock_skewed()


def test_redis_away_keeps_the_last_comparison(namespace, caplog):
    class Away:
        def time(self):
            import redis

            raise redis.ConnectionError("away")

    scheduler = ClockWatch(RedisRef(Away(), namespace), "web", "x")  # type: ignore[arg-type]

    with caplog.at_level(logging.WARNING, logger="ops.clock_watch"):
        assert not scheduler.check()

    assert not scheduler.skewed and scheduler.clock.offset is None
    assert "could not compare" in skew_lines(caplog)[0]
