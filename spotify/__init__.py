"""The Spotify boundary: API client, OAuth, listener pages and the demo Spotify."""
