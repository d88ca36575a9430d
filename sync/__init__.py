"""The Spotify library sync: plain functions, no queue inside.

``sync_user``, ``sync_artist``, ``refresh_outdated_artists`` and ``sync_if_needed`` are called
the same way by the actors, the CLI and the tests. They stand on ``models``, ``spotify`` and
``jobs`` (to send the artists they meet and to report progress).
"""
