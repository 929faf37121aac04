"""The module-level ASGI app for uvicorn (``orca.asgi:app``); its configuration comes from the environment."""

from __future__ import annotations

import os
import signal

from orca.app import create_app


def _stop_for_new_credentials() -> None:
    # ECS injects the database secret only when a task starts: after a rotation, a new task is how the service
    # gets the new password. SIGTERM drains this one cleanly (exit 0) and the ECS service starts a replacement.
    os.kill(os.getpid(), signal.SIGTERM)


app = create_app(on_credentials_rejected=_stop_for_new_credentials)
