"""Background work: the broker every process shares, its middleware and the actors.

``actors.broker`` builds the broker; ``actors.app`` is what the ``dramatiq`` and
``periodiq`` commands load. Actors are thin: ids in, a core function called, nothing else.
"""
