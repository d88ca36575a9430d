"""The job machinery that the web, the workers and the CLI share.

Sending by actor name (``queueing``, ``pipelined``), progress and cancel (``progress``),
crash recovery (``recovery``), retention of finished runs (``retention``) and what an
operator does to a job (``actions``). It stands on ``models`` and knows no actor: the
worker side (``actors``) and the senders meet only in the queue and actor names.
"""
