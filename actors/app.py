"""What the ``dramatiq`` and ``periodiq`` commands load (see the Procfile).

It reads the settings, builds the broker, connects the database and imports every
actor module so that each is declared on that broker.
"""

from __future__ import annotations

from actors import runtime
from actors.broker import configure
from config.settings import Settings
from models import init_database, tokens

settings = Settings.from_env()
broker = configure(settings)
init_database(settings.database_url)
tokens.configure(settings.token_keys)
runtime.configure(settings)

from actors import artists, periodic, pictures, users  # noqa: E402, F401  (declares the actors)
