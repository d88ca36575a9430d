"""Rendering Jinja2 templates from ``templates/``, with HTML escaping always on."""

from __future__ import annotations

from typing import Any

import jinja2

from overlap.settings import ROOT, Settings

TEMPLATES_DIR = ROOT / "templates"


class Renderer:
    """Renders a template with the values every page needs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def __call__(self, name: str, **values: Any) -> str:
        """The HTML of template ``name`` filled with ``values``."""
        values.setdefault("demo", self.settings.demo)
        return self.env.get_template(name).render(**values)
