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
# periodiq loads this module in the scheduler; dramatiq in each worker process (which
# `overlap worker` starts: its stderr is now the pipe its master reads).
logs.configure(settings, "scheduler" if Path(sys.argv[0]).name == "periodiq" else "worker")
broker = configure(settings)
init_database(settings.database_url)
tokens.configure(settings.token_keys)
runtime.configure(settings)

from actors import artists, periodic, users  # noqa: E402, F401  (declares the actors)
