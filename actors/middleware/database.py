"""A database connection for each message: opened before it runs, closed after."""

from __future__ import annotations

from dramatiq import Broker, Message, Middleware

from models import database


class DatabaseConnection(Middleware):
    """Open the worker thread's connection before a message and close it after.

    A connection that lived across messages would outlive a database restart; one per
    message costs a connect, which is small next to a Spotify call.
    """

    def before_process_message(self, broker: Broker, message: Message) -> None:
        database.connect(reuse_if_open=True)

    def after_process_message(
        self,
        broker: Broker,
        message: Message,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        if not database.is_closed():
            database.close()

    after_skip_message = after_process_message
