"""The Spotify boundary: API client, OAuth, the shared rate gate and the listener pages."""
