"""The top layer: the ``overlap`` command, the development runner and the embedded Redis.

Nothing imports this package; it may import every other one.
"""
