"""What ``dramatiq`` (through ``overlap worker``) and ``periodiq`` load (see the Procfile).

It reads the settings, sets up the logging (config/logs.py), builds the broker, connects
the database and imports every actor module so that each is declared on that broker.
"""

from __future__ import annotations

import sys
from pathlib import Path

from actors import runtime
from actors.broker import configure
from config import logs
from config.settings import Settings
from models import init_database, tokens

settings = Settings.from_env()
# `overlap worker` and `overlap scheduler` set up the logging before they load this
# module (a worker process inherits it from its master); `dramatiq actors.app` or
# `periodiq actors.app` run by hand get it here.
_by_hand = "scheduler" if Path(sys.argv[0]).name == "periodiq" else "worker"
logs.configure(settings, logs.configured_role() or _by_hand)
broker = configure(settings)
init_database(settings.database_url)
tokens.configure(settings.token_keys)
runtime.configure(settings)

from actors import artists, periodic, pictures, users  # noqa: E402, F401  (declares the actors)
