"""A database connection for each message: opened before it runs, closed after (kept by
the thread on SQLite)."""

from __future__ import annotations

import logging
import time

from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy
from peewee import InterfaceError, OperationalError

from actors.middleware.hand_back import hand_back
from models import database
from models.db import is_postgres

log = logging.getLogger(__name__)

# While the database does not answer, a worker thread tries to connect this often, for
# this long, before it hands its message back for this much later. The wait keeps an
# outage from spinning every waiting message through Redis; the hand-back keeps a thread
# from holding one message for ever (a shutdown waits for it).
RECONNECT_EVERY_S = 0.5
WAIT_FOR_DATABASE_S = 5.0
UNAVAILABLE_DELAY_MS = 5_000
# At most one warning this often per process while the database is away.
WARN_EVERY_S = 10.0


class DatabaseConnection(Middleware):
    """Open the worker thread's connection before a message and close it after.

    A connection that lived across messages would outlive a database restart; one per
    message costs a connect, which is small next to a Spotify call (and the pool checks
    an idle connection before handing it out, so a restart's dead ones are dropped). On
    SQLite, which has no server to restart, a thread keeps its connection (see below).

    When the database does not answer, the message waits for it instead of running: it
    would fail, and a few outages' worth of failures would spend its retries and leave it
    dead-lettered.
    """

    def __init__(self) -> None:
        self._warned_at = 0.0

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        give_up_at = time.monotonic() + WAIT_FOR_DATABASE_S
        while True:
            try:
                database.connect(reuse_if_open=True)
                return
            except (OperationalError, InterfaceError) as error:
                if time.monotonic() - self._warned_at > WARN_EVERY_S:
                    self._warned_at = time.monotonic()
                    log.warning("the database is unavailable; messages wait for it: %s", error)
                if time.monotonic() >= give_up_at:
                    hand_back(broker, message, UNAVAILABLE_DELAY_MS, "the database is unavailable")
            time.sleep(RECONNECT_EVERY_S)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        if database.is_closed():
            return
        # A SQLite connection has no server whose restart it could outlive, and opening one
        # (the file and four pragmas) cost 0.23 ms, a third of a tiny message's time in the
        # worker (bench/update_artist_throughput.py --cuts): the thread keeps it for its
        # next message, unless something failed or left a transaction open, which closing
        # rolls back. A server's connection goes back to its pool after every message.
        if is_postgres() or exception is not None or database.connection().in_transaction:
            database.close()

    after_skip_message = after_process_message
