"""The module-level ASGI app for uvicorn (``orca.asgi:app``); its configuration comes from the environment."""

from __future__ import annotations

from orca.app import create_app

app = create_app()
