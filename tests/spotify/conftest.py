"""The Spotify tests share the session's demo Spotify (see tests/conftest.py)."""
