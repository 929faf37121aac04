"""AWS Lambda entry point (``orca.lambda_handler.handler``): the same ASGI app behind Mangum.

Behind an ALB, Lambda receives no socket peer: Mangum puts the whole ``X-Forwarded-For`` value where the
peer address goes. The address the ALB itself saw is that header's last entry, so it becomes the peer, and the
usual trusted-proxy rules then apply to the rest.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from mangum import Mangum

from orca.app import create_app
from orca.config import Config

ASGIApp = Any


class _ALBPeer:
    """Sets the ASGI ``client`` to the address the load balancer received the connection from."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and isinstance(client[0], str):
            scope = dict(scope, client=(client[0].rsplit(",", 1)[-1].strip(), client[1]))
        await self._app(scope, receive, send)


def create_handler() -> Mangum:
    """A Lambda handler for the app, configured from the environment.

    Mangum runs the app's lifespan around each invocation, so each opens and closes its own pool: one
    connection is opened, not the pool's usual warm minimum. Set ``ORCA_MIGRATE_ON_START=false`` for a
    Lambda deployment and run ``orca migrate`` once per release, or every invocation checks the schema
    under the migration lock.
    """
    # Mangum runs every invocation on the thread's current event loop; a Lambda process lives across
    # invocations, so it gets one loop for its life (asyncio no longer makes one implicitly).
    asyncio.set_event_loop(asyncio.new_event_loop())
    config = Config.from_env()
    app: Any = _ALBPeer(create_app(replace(config, pool_min_size=min(config.pool_min_size, 1))))
    return Mangum(app, lifespan="auto")


_handler: Mangum | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function Lambda calls; the app and its Mangum adapter are built on the first invocation."""
    global _handler
    if _handler is None:
        _handler = create_handler()
    response: dict[str, Any] = _handler(event, context)
    return response
