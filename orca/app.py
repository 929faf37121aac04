"""The application factory: wires configuration, store, middleware and resources into a Falcon ASGI app."""

from __future__ import annotations

import logging
from typing import Any

import falcon
import falcon.asgi

from orca.config import Config
from orca.logs import AccessLogWriter
from orca.middleware import RequestContext, StoreLifespan
from orca.resources import AccessLog, Health, Live
from orca.store import UNAVAILABLE_ERRORS, Store

logger = logging.getLogger(__name__)

App = falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]

HEALTH_PATH = "/_healthz"
LIVE_PATH = "/_livez"


def create_app(config: Config | None = None) -> App:
    """Build the service's ASGI app from ``config`` (default: read from the environment).

    The app holds no connection until the ASGI lifespan starts it: the pool is opened in the startup event and
    closed in the shutdown event.
    """
    config = config if config is not None else Config.from_env()
    store = Store(config)
    access_log = AccessLogWriter(level=config.log_level)
    middleware: list[Any] = [StoreLifespan(store), RequestContext(config.trusted_proxies, access_log)]
    app: App = falcon.asgi.App(middleware=middleware)
    app.add_route(HEALTH_PATH, Health(store))
    app.add_route(LIVE_PATH, Live(store))
    # Named routes win over the sink: every other path is an access to log.
    app.add_sink(AccessLog(store), prefix="/")
    app.add_error_handler(Exception, _internal_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_error_handler(error, _database_unavailable)
    return app


async def _database_unavailable(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: BaseException, params: object
) -> None:
    logger.warning("database unavailable: %s", error, extra={"request_id": req.context.get("request_id")})
    raise falcon.HTTPServiceUnavailable(
        description="The database is unavailable; try again shortly.", retry_after=1
    ) from error


async def _internal_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: BaseException, params: object
) -> None:
    if isinstance(error, falcon.HTTPError):
        raise error
    logger.error("unhandled error", exc_info=error, extra={"request_id": req.context.get("request_id")})
    raise falcon.HTTPInternalServerError() from error
