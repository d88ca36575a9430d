"""The core functions of background work: plain functions, no queue inside.

``sync_user``, ``sync_artist``, ``refresh_outdated_artists`` and ``sync_if_needed`` are called
the same way by the actors, the CLI and the tests. They stand on ``models`` and the
``spotify`` package and reach the queue only through ``sync.queueing``.
"""
