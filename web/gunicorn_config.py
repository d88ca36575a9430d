"""gunicorn's settings file (the Procfile's ``--config python:web.gunicorn_config``).

It hands gunicorn overlap's one logging setup (config/logs.py), so that gunicorn's own
lines and its access log come out in the format of every other line (``LOG_FORMAT``), at
``LOG_LEVEL``, with the request's id and masked like the rest. The rest of gunicorn's
settings stay on the Procfile line, where an operator reads them.
"""

from config.logs import ACCESS_LOG_FORMAT, dict_config
from config.settings import Settings

logconfig_dict = dict_config(Settings.from_env(), "web")
access_log_format = ACCESS_LOG_FORMAT
