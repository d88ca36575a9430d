"""Enqueueing many messages on Dramatiq's Redis broker in one pipeline.

``RedisBroker.enqueue`` makes one round trip per message; a sync that meets 10,000
artists would make 10,000. This does what ``enqueue`` does (the same middleware hooks and
the same dispatch script) for a batch, in one pipelined round trip. It leans on the
broker's internals (``scripts``, ``broker_id``, ``_max_unpack_size`` and the arguments of
its ``dispatch.lua``), which dramatiq may change in any release: pyproject.toml pins
dramatiq to one minor version, and tests/jobs/test_pipelined.py checks the script's
arguments and compares what this stores with what ``RedisBroker.enqueue`` stores.
``dispatch_args`` is the one place that knows those arguments' order; the workers' queue
maintenance (``actors/middleware/queue_maintenance.py``) calls the script with it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from models.db import shared_millis


def enqueue_pipelined(
    broker: RedisBroker,
    messages: list[dramatiq.Message[Any]],
    also: Callable[[redis.client.Pipeline], object] | None = None,
    *,
    atomic: bool = True,
) -> None:
    """Enqueue ``messages`` (no delay) in one Redis pipeline; with ``also``, its commands
    go in the same pipeline, as one MULTI/EXEC transaction (both happen or neither) unless
    ``atomic`` is False (one round trip all the same, for commands safe to run again)."""
    prepared = []
    for message in messages:
        broker.declare_queue(message.queue_name)
        message = message.copy(options={"redis_message_id": str(uuid4())})
        broker.emit_before("enqueue", message, None)
        prepared.append(message)
    try:
        _dispatch_pipelined(broker, prepared, also, atomic)
    except redis.exceptions.NoScriptError:
        # Redis lost its scripts (a restart): none of the batch ran, as every command was
        # the one script. Load it and send the batch again.
        broker.client.script_load(broker.scripts["dispatch"].script)
        _dispatch_pipelined(broker, prepared, also, atomic)
    for message in prepared:
        broker.emit_after("enqueue", message, None)


def _dispatch_pipelined(
    broker: RedisBroker,
    prepared: list[dramatiq.Message[Any]],
    also: Callable[[redis.client.Pipeline], object] | None,
    atomic: bool,
) -> None:
    dispatch = broker.scripts["dispatch"]
    transaction = also is not None and atomic
    with broker.client.pipeline(transaction=transaction) as pipe:
        for message in prepared:
            # No maintenance inside a pipeline; Dramatiq's heartbeat stamp of this process
            # on the shared clock; the enqueue command's own arguments: the id in Redis,
            # then the data.
            args = dispatch_args(
                broker, "enqueue", message.queue_name,
                shared_millis(),
                message.options["redis_message_id"], message.encode(),
            )  # fmt: skip
            if not transaction:
                # EVALSHA as is: calling the Script object would make the pipeline ask
                # SCRIPT EXISTS first, a second round trip for every batch.
                pipe.evalsha(dispatch.sha, 1, broker.namespace, *args)
            else:
                # In a transaction a missing script would fail alone after the other
                # commands ran, so there the Script object loads it first.
                dispatch(keys=[broker.namespace], args=args, client=pipe)
        if also is not None:
            also(pipe)
        pipe.execute()


def dispatch_args(
    broker: RedisBroker,
    command: str,
    queue_name: str,
    timestamp_ms: int,
    *command_args: object,
    maintenance: bool = False,
) -> list[object]:
    """ARGV of the broker's ``dispatch.lua`` in its order, as ``RedisBroker._dispatch``
    sends them: ``command`` on ``queue_name`` at ``timestamp_ms`` (the time the script
    stamps this process's heartbeat with and, with ``maintenance``, judges the other
    processes' heartbeats by), then the command's own arguments."""
    return [
        command,
        timestamp_ms,
        queue_name,
        broker.broker_id,
        broker.heartbeat_timeout,
        broker.dead_message_ttl,
        int(maintenance),
        broker._max_unpack_size(),  # type: ignore[no-untyped-call]  # private, untyped
        *command_args,
    ]
