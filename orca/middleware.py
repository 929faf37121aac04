"""Middleware: the store's lifespan, and the per-request context and JSON access log."""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Any

import falcon.asgi

from orca.client_ip import client_ip
from orca.config import IPNetwork
from orca.logs import AccessLogWriter
from orca.store import Store

logger = logging.getLogger(__name__)

_MAX_REQUEST_ID = 200
# Request ids made here: unique per process by a random prefix and a counter, without a system call per
# request (uuid4 reads the kernel's random source each time).
_ID_PREFIX = os.urandom(6).hex()
_id_counter = itertools.count(1)


class StoreLifespan:
    """Owns the store for the ASGI lifespan: opened at startup, closed at shutdown, never at import time."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def process_startup(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        """Open the pool and migrate; an error here fails the startup, and the server exits."""
        await self._store.open()

    async def process_shutdown(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        """Close the pool once in-flight requests have finished."""
        await self._store.close()


class RequestContext:
    """Gives each request its client address and request id; writes one JSON access-log line per request."""

    def __init__(self, trusted_proxies: tuple[IPNetwork, ...], access_log: AccessLogWriter) -> None:
        self._trusted = trusted_proxies
        self._access_log = access_log

    async def process_startup(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        """Start the access log's periodic flush."""
        self._access_log.start()

    async def process_shutdown(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        """Write the access lines still queued."""
        self._access_log.close()

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Record the start time, the client address and the request id."""
        req.context.started = time.perf_counter()
        xff = req.get_header("X-Forwarded-For")
        req.context.client_ip = client_ip(_peer(req.scope), xff, self._trusted)
        req.context.request_id = _request_id(req)

    async def process_response(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Echo the request id and log the request."""
        request_id = req.context.get("request_id") or _request_id(req)
        resp.set_header("X-Request-Id", request_id)
        started: float = req.context.get("started") or time.perf_counter()
        self._access_log.write(
            {
                "method": req.method,
                "path": req.path[:2048],
                "status": resp.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "client_ip": req.context.get("client_ip"),
                "request_id": request_id,
            }
        )


def _peer(scope: dict[str, Any]) -> str | None:
    # ASGI only promises a two-item iterable (or None) for the socket peer.
    client = scope.get("client")
    if not client:
        return None
    host = client[0] if isinstance(client, tuple | list) else next(iter(client), None)
    return host if isinstance(host, str) else None


def _request_id(req: falcon.asgi.Request) -> str:
    # Prefer the load balancer's trace id so that our lines join the ALB's own logs.
    for header in ("X-Amzn-Trace-Id", "X-Request-Id"):
        value = req.get_header(header)
        if value:
            value = value.strip()[:_MAX_REQUEST_ID]
            if value.isascii() and value.isprintable():
                return value
    return f"{_ID_PREFIX}{next(_id_counter):08x}"
