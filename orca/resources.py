"""HTTP resources: the logging sink, the deep health check and the shallow liveness check."""

from __future__ import annotations

import logging
from typing import Any

import falcon
import falcon.asgi

from orca import sanitize
from orca.store import UNAVAILABLE_ERRORS, Entry, Store

logger = logging.getLogger(__name__)


class AccessLog:
    """The catch-all sink: logs any request to a path that is not the service's own; answers the latest."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def __call__(self, req: falcon.asgi.Request, resp: falcon.asgi.Response | None, **_: Any) -> None:
        """Log the request, then answer ``200`` with the ten latest entries, newest first."""
        assert resp is not None  # Falcon passes no response only to sinks of WebSocket routes
        entry = Entry(
            # Computed once per request by orca.middleware.RequestContext, from trusted proxies only.
            ip=req.context.client_ip,
            xff=sanitize.clean_header(req.get_header("X-Forwarded-For"), sanitize.MAX_XFF),
            user_agent=sanitize.clean_header(req.get_header("User-Agent"), sanitize.MAX_USER_AGENT),
            method=sanitize.clean_text(req.method, sanitize.MAX_METHOD),
            path=sanitize.clean_text(req.path, sanitize.MAX_PATH),
        )
        resp.data = await self._store.log_and_latest(entry)
        resp.content_type = falcon.MEDIA_JSON


class Health:
    """``/_healthz``: the database answers, and how many entries it holds. For operators and deep checks."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """``200 {"status": "HEALTHY", "count": N}``, or ``503 {"status": "UNHEALTHY", "reason": ...}``."""
        try:
            count = await self._store.count()
        except UNAVAILABLE_ERRORS as e:
            logger.warning("health check failed: %s", _reason(e))
            resp.status = falcon.HTTP_503
            resp.media = {"status": "UNHEALTHY", "reason": _reason(e)}
            return
        resp.media = {"status": "HEALTHY", "count": count}

    on_head = on_get


class Live:
    """``/_livez``: the process serves HTTP. It asks nothing of the database, so a database outage never fails
    the load balancer's target checks and churns the whole fleet.

    One state of the process itself fails it: credentials the database has refused (rotated since the task
    started). Only a new task gets the new secret, so the target turns unhealthy and ECS replaces the task, after
    draining it as for any deploy.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """``200 {"status": "ALIVE"}``, or ``503 {"status": "STALE_CREDENTIALS"}`` once credentials are refused."""
        if self._store.credentials_rejected:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "STALE_CREDENTIALS", "reason": "the database refused this task's credentials"}
            return
        resp.data = b'{"status":"ALIVE"}'
        resp.content_type = falcon.MEDIA_JSON

    on_head = on_get


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "database did not answer in time"
    # psycopg's messages can span lines; the first says what happened.
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
