"""Operations: what the dashboard, the JSON API, ``/metrics`` and the CLI read about queues
and workers, and the switches they flip.

Everything here is computed from Redis (Dramatiq's own keys and a few of ours under
``<namespace>:ops:``) and the database at the moment it is asked, so any number of web
processes can answer the same thing and none keeps state of its own.
"""
