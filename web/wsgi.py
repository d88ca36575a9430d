"""The WSGI entry point for the production server (``gunicorn web.wsgi:app``)."""

from config.settings import Settings
from web.app import create_app

app = create_app(Settings.from_env())
