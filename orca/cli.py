"""The ``orca`` command: ``orca serve`` runs the service under uvicorn, ``orca migrate`` applies the schema.

Exit codes: 0 success, 1 runtime failure (database unreachable, migration failed), 2 usage or configuration
error, 3 the server failed to start (uvicorn's own code).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import psycopg

from orca import __version__, embedded, logs
from orca.config import Config, mask_conninfo
from orca.errors import ConfigError, OrcaError
from orca.migrations import migrate

logger = logging.getLogger("orca")

# Longer than the ALB's 60 s idle timeout: the load balancer, not the app, closes idle connections, so it
# never sends a request on a connection the app has just closed (a 502).
KEEP_ALIVE_SECONDS: Final = 75
# In-flight requests get this long to finish after SIGTERM; well inside ECS's 30 s stop timeout.
GRACEFUL_SHUTDOWN_SECONDS: Final = 10
DEFAULT_HOST: Final = "127.0.0.1"
MIGRATE_CONNECT_TIMEOUT: Final = 10

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``orca`` command line; return its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as e:
        return _fail(str(e), EXIT_USAGE)
    logs.configure(config.log_level)
    try:
        if args.embedded_db:
            os.environ["DATABASE_URL"] = embedded.start(args.state_dir)
            config = Config.from_env()
        if not config.database_configured:
            return _fail(
                "no database configured: set DATABASE_URL (or the PG* variables), "
                "or pass --embedded-db for a local throw-away database",
                EXIT_USAGE,
            )
        if args.command == "serve":
            return _serve(config, args)
        return _migrate(config)
    except ConfigError as e:
        return _fail(str(e), EXIT_USAGE)
    except OrcaError as e:
        return _fail(str(e), EXIT_FAILURE)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orca", description="The Orca access-log service.")
    parser.add_argument("--version", action="version", version=f"orca {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve HTTP (applies pending migrations at startup)")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=_port, default=None, help="port to listen on (default $PORT or 8080)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")

    migrate_cmd = commands.add_parser("migrate", help="apply pending schema migrations and exit")
    for sub in (serve, migrate_cmd):
        sub.add_argument(
            "--embedded-db",
            action="store_true",
            help="start an embedded PostgreSQL whose data lives in --state-dir, instead of DATABASE_URL",
        )
        sub.add_argument("--state-dir", type=Path, default=embedded.DEFAULT_STATE_DIR, help=argparse.SUPPRESS)
    return parser


def _serve(config: Config, args: argparse.Namespace) -> int:
    import uvicorn  # not needed by `orca migrate`

    # uvicorn drains on SIGTERM, then re-raises the signal under the handler that was there before it: this one
    # turns that into exit code 0, as ECS expects of a clean stop, instead of death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    port = args.port if args.port is not None else config.port
    logger.info(
        "serving",
        extra={"host": args.host, "port": port, "workers": args.workers, "database": _masked(config)},
    )
    uvicorn.run(
        "orca.asgi:app",
        host=args.host,
        port=port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        # The app computes the client address from trusted proxies itself (ORCA_TRUSTED_PROXIES); uvicorn's
        # proxy-headers mode would trust the left-most X-Forwarded-For entry, which the client controls.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=logs.uvicorn_log_config(config.log_level),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


def _migrate(config: Config) -> int:
    async def run() -> list[str]:
        assert config.database_url is not None
        async with await psycopg.AsyncConnection.connect(
            config.database_url, connect_timeout=MIGRATE_CONNECT_TIMEOUT
        ) as conn:
            return [f"{m.version:04d}_{m.name}" for m in await migrate(conn)]

    try:
        applied = asyncio.run(run())
    except psycopg.OperationalError as e:
        first = str(e).strip().splitlines()
        return _fail(f"cannot connect to {_masked(config)}: {first[-1] if first else e}", EXIT_FAILURE)
    print(f"applied {', '.join(applied)}" if applied else "schema is up to date")
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _masked(config: Config) -> str:
    return mask_conninfo(config.database_url) if config.database_url else "(libpq environment)"


def _fail(message: str, code: int) -> int:
    print(f"orca: error: {message}", file=sys.stderr)
    return code


def _port(value: str) -> int:
    port = _positive(value)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number")
    return port


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return number
