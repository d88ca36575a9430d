"""The demo Spotify: a WSGI app imitating Spotify's Web API, accounts service and artist pages.

Used by demo mode (``make run`` without Spotify credentials) and by the tests. Start with
``spotify_demo.app.create_demo_app`` or ``spotify_demo.server``.
"""
