"""Rendering Jinja2 templates from ``templates/``, with HTML escaping always on."""

from __future__ import annotations

from typing import Any

import jinja2
import markupsafe

from config.settings import Settings, shipped
from models.job_run import JobStatus
from web.http.static_files import StaticFiles
from web.views.comparison import percent, picture_srcset
from web.views.formats import local_time, thousands
from web.views.sync_status import NEVER_SYNCED

TEMPLATES_DIR = shipped("templates")


class Renderer:
    """Renders a template with the values every page needs."""

    def __init__(self, settings: Settings, static: StaticFiles) -> None:
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["web_link"] = web_link
        self.env.filters.update(n=thousands, when=local_time)
        # Pages name static files by their content-hashed names (cached for a year).
        self.env.globals["static_url"] = static.url
        # The stylesheet a page carries inline, let in by its hash (web/http/static_files.py).
        self.env.globals["inline_style"] = lambda name: markupsafe.Markup(static.text(name))
        self.env.filters["percent"] = percent
        self.env.filters["srcset"] = picture_srcset
        # Templates name statuses by these, never by hand, so they agree with the models.
        self.env.globals.update(JobStatus=JobStatus, NEVER_SYNCED=NEVER_SYNCED)

    def __call__(self, name: str, **values: Any) -> str:
        """The HTML of template ``name`` filled with ``values``."""
        values.setdefault("demo", self.settings.demo)
        # A Development Mode Spotify app serves only the people its owner added.
        values.setdefault("private_to_friends", self.settings.spotify_app_mode == "development")
        values.setdefault("group_max", self.settings.group_max_members)
        return self.env.get_template(name).render(**values)


def web_link(url: str | None) -> str | None:
    """``url`` when it is an http(s) address, else None: escaping keeps a link Spotify sent
    from breaking out of its attribute, not a ``javascript:`` link from running."""
    if url and url.isprintable() and url.lower().startswith(("https://", "http://")):
        return url
    return None
