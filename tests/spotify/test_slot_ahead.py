"""A line of requests that come one after the other takes each next request's slot at the
gate while the current one is in flight, and gives up no slot it did not have to."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from config.redis_ref import RedisRef
from config.settings import Settings
from spotify.gate import Slot, SpotifyGate
from spotify.slot_ahead import LATE_S, SlotAhead


@pytest.fixture
def gate(redis_client: redis.Redis, settings: Settings, namespace: str) -> SpotifyGate:
    """A gate of the test's own, at the default rates, which tells when a slot was taken
    ahead (on the line's own thread)."""
    gate = SpotifyGate(RedisRef(redis_client, namespace), settings)
    gate.taken_ahead = threading.Event()  # type: ignore[attr-defined]
    reserve = gate.reserve

    def recording(lane: str, max_wait: float | None = None) -> Slot:
        slot = reserve(lane, max_wait)
        if threading.current_thread().name.startswith("slot-ahead"):
            gate.taken_ahead.set()  # type: ignore[attr-defined]
        return slot

    gate.reserve = recording  # type: ignore[method-assign]
    return gate


def slots_counted(gate: SpotifyGate) -> int:
    """The requests the gate counted in the last minute: the slots it handed out, less the
    ones given back."""
    return gate.stats()["api"].requests_last_minute


def test_the_next_requests_slot_is_taken_while_the_current_one_is_in_flight(gate, monkeypatch):
    # (A loaded machine may stall a thread past LATE_S: no slot is late here.)
    monkeypatch.setattr("spotify.slot_ahead.LATE_S", 30.0)
    made: list[bool] = []
    line = SlotAhead(gate, "api", lambda: len(made) < 2)
    for _ in range(2):
        line.before_request()
        # The request in flight: it ends once the next one's slot is taken beside it (or
        # after 10 s, which fails below).
        made.append(gate.taken_ahead.wait(10))
        gate.taken_ahead.clear()
    line.before_request()  # the last: none is to come after it
    line.close()
    # Then the first two each had the next slot taken while they were in flight...
    assert made == [True, True]
    # ...and the last none: every slot the gate handed out went to a request.
    assert line.given_up == 0
    assert slots_counted(gate) == 3


def test_a_slot_ahead_come_too_late_is_let_go_and_the_line_takes_no_more_ahead(gate):
    line = SlotAhead(gate, "api", lambda: True)
    line.before_request()
    assert gate.taken_ahead.wait(10)
    gate.taken_ahead.clear()
    # Given a request answered well after the next slot's time (Spotify slow)...
    time.sleep(LATE_S + 0.3)
    asked = gate.now()
    # ...the next request does not go on that old slot: it takes one now.
    slot = line.before_request()
    assert slot >= asked - 0.05, (slot, asked)
    assert line.given_up == 1
    # And the line takes no more ahead: its answers hide the round trips themselves.
    line.before_request()
    assert not gate.taken_ahead.is_set()
    line.close()
    assert line.given_up == 1
    # (the slot let go counted back: the gate counts the 3 requests)
    assert slots_counted(gate) == 3


def test_a_line_that_ends_sooner_than_said_lets_its_last_slot_ahead_go(gate):
    line = SlotAhead(gate, "api", lambda: True)
    line.before_request()
    assert gate.taken_ahead.wait(10)
    line.close()
    assert line.given_up == 1
    assert slots_counted(gate) == 1
