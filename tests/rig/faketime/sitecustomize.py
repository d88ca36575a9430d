"""Loaded by every Python process a skewed host starts (``stack.py``: ``PYTHONPATH`` names
this folder beside ``faketime``).

libfaketime 0.9.10 (Debian 12) fails the clock_nanosleep of Python's time.sleep with EINVAL
once FAKETIME_DONT_FAKE_MONOTONIC is set (and without it, every timed wait of a lock or an
Event waits on the faked monotonic clock: 120 s too long, or forever). So time.sleep waits
in select(), on the real clock, as long (as ``tests/faults/test_clock_skew.py`` does).
"""

import select
import time


def _sleep(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
