"""The base of the middleware with a thread of its own: it ticks while a real worker runs,
stops at once when the worker shuts down, and outlives an error it did not expect."""

from __future__ import annotations

import logging
import threading
import time

import dramatiq
from dramatiq import Broker

from actors.middleware.background import BackgroundMiddleware
from actors.testing import wait_for


class Ticker(BackgroundMiddleware):
    """Counts its ticks; the ticks numbered in ``failing`` raise."""

    thread_name = "test-ticker"

    def __init__(self, interval: float, failing: tuple[int, ...] = ()) -> None:
        super().__init__(interval)
        self.failing = failing
        self.ticks = 0

    def tick(self, broker: Broker) -> None:
        self.ticks += 1
        if self.ticks in self.failing:
            raise ValueError(f"tick {self.ticks} went wrong")


def ticker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == Ticker.thread_name]


def start_worker(broker, ticker: Ticker) -> dramatiq.Worker:
    broker.add_middleware(ticker)
    worker = dramatiq.Worker(broker, queues={"periodic"}, worker_threads=1, worker_timeout=100)
    worker.start()
    return worker


def test_it_ticks_every_interval_in_a_daemon_thread_until_the_worker_shuts_down(broker):
    ticker = Ticker(interval=0.05)
    worker = start_worker(broker, ticker)
    try:
        [thread] = ticker_threads()
        assert thread.daemon  # a worker that dies without a shutdown is not held up by it
        wait_for(lambda: ticker.ticks >= 5, timeout=10, what="five ticks")
    finally:
        worker.stop()

    assert ticker_threads() == []
    after_stop = ticker.ticks
    time.sleep(0.3)  # six intervals
    assert ticker.ticks == after_stop


def test_a_long_interval_does_not_hold_up_the_shutdown(broker):
    ticker = Ticker(interval=60)
    worker = start_worker(broker, ticker)
    assert ticker_threads() != []

    started = time.monotonic()
    worker.stop()

    assert time.monotonic() - started < 3  # the join would wait 5 s, the interval 60 s
    assert ticker_threads() == []
    assert ticker.ticks == 0  # the first tick comes one interval after the boot


def test_an_unexpected_error_is_logged_with_its_traceback_and_the_ticks_go_on(broker, caplog):
    ticker = Ticker(interval=0.05, failing=(2, 3))
    caplog.set_level(logging.ERROR, logger="actors.middleware.background")
    worker = start_worker(broker, ticker)
    try:
        wait_for(lambda: ticker.ticks >= 6, timeout=10, what="the ticks after the failures")
    finally:
        worker.stop()

    failures = [r for r in caplog.records if "Unexpected failure in test-ticker" in r.message]
    assert len(failures) == 2
    assert all(r.exc_info and r.exc_info[0] is ValueError for r in failures)
