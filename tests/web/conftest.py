"""What the web tests share: the live app of the browser tests (tests/web/browser_helpers.py);
for the tests of bad and hostile input, a picture of everything a request
could change (every table's rows and every queue's messages), to show it changed nothing,
and the CSRF token of a signed-in page."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from actors.testing import enqueued
from tests.web.browser_helpers import live_app  # noqa: F401  (the browser tests' fixture)

State = tuple[dict[str, list[str]], dict[str, list[str]]]


@pytest.fixture
def state(broker) -> Callable[[], State]:
    """A function giving every table's rows and every queue's message ids, comparable."""
    import models
    from jobs.queueing import QUEUES

    def state() -> State:
        tables = {
            table._meta.table_name: sorted(repr(row) for row in table.select().tuples())
            for table in models.ALL_TABLES
        }
        queues = {
            f"{queue}{'.DQ' if delayed else ''}": sorted(
                m.message_id for m in enqueued(broker, queue, delayed=delayed)
            )
            for queue in QUEUES
            for delayed in (False, True)
        }
        return tables, queues

    return state


@pytest.fixture
def csrf_of() -> Callable[..., str]:
    """The CSRF token a page carries in its ``<meta name="csrf-token">``."""

    def csrf_of(page) -> str:
        return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)

    return csrf_of
