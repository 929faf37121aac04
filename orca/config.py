"""Configuration: read from the environment once, into a typed, immutable object.

This is the only module that reads ``os.environ``. Every setting has a default named as a constant here, and
every invalid value raises :class:`~orca.errors.ConfigError` with a one-line message naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orca.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORT: Final = 8080
DEFAULT_LOG_LEVEL: Final = "INFO"
# Two warm connections per process; ten at most. The infrastructure sets the maximum per environment and checks
# at build time that tasks x maximum + headroom fit the database's max_connections.
DEFAULT_POOL_MIN_SIZE: Final = 2
DEFAULT_POOL_MAX_SIZE: Final = 10
# How long a request may wait for a free connection before it gets a 503. Short, so that overload and outages
# give fast answers instead of a pile of waiting requests.
DEFAULT_POOL_TIMEOUT: Final = 2.0
# How many requests may wait for a connection at once; the next one gets a 503 at once.
DEFAULT_POOL_MAX_WAITING: Final = 256
# How long startup waits for the pool's first connections (and the migrations) before giving up.
DEFAULT_POOL_OPEN_TIMEOUT: Final = 10.0
# How long /_healthz waits for the database before answering 503; ALB and ECS checks time out at 5 s.
DEFAULT_HEALTH_TIMEOUT: Final = 1.5
# How long a logging request waits for the commit of its row before it gets a 503: a database that stops
# answering (a network partition, a frozen host) must not hold requests for minutes.
DEFAULT_WRITE_TIMEOUT: Final = 3.0
# A statement that runs longer than this is cancelled by the server: no request holds a connection for long.
DEFAULT_STATEMENT_TIMEOUT_MS: Final = 5000

# Group commit (orca.batching): how many batched writes may run at once, and how many entries one may carry.
# Measured side by side with wrk -c16 on two cores: one write slot gave 8,500-9,500 logged requests/s, two
# 8,200-9,000 and four about 6,000: fewer, larger batches cost less per request. A stalled write stalls the
# others either way, since they wait on the same database; the statement timeout bounds it.
DEFAULT_WRITE_CONCURRENCY: Final = 1
DEFAULT_WRITE_BATCH_MAX: Final = 256

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# libpq's own variables: when any of these is set, an empty conninfo lets libpq read them itself.
LIBPQ_VARIABLES: Final = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of the service.

    ``database_url`` is a libpq connection string or URL; an empty string means "libpq's ``PG*`` variables";
    ``None`` means no database was configured.
    """

    database_url: str | None = None
    pool_min_size: int = DEFAULT_POOL_MIN_SIZE
    pool_max_size: int = DEFAULT_POOL_MAX_SIZE
    pool_timeout: float = DEFAULT_POOL_TIMEOUT
    pool_max_waiting: int = DEFAULT_POOL_MAX_WAITING
    pool_open_timeout: float = DEFAULT_POOL_OPEN_TIMEOUT
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    write_timeout: float = DEFAULT_WRITE_TIMEOUT
    write_concurrency: int = DEFAULT_WRITE_CONCURRENCY
    write_batch_max: int = DEFAULT_WRITE_BATCH_MAX
    trusted_proxies: tuple[IPNetwork, ...] = field(default_factory=tuple)
    port: int = DEFAULT_PORT
    log_level: str = DEFAULT_LOG_LEVEL
    migrate_on_start: bool = True

    def __post_init__(self) -> None:
        if self.pool_min_size < 0:
            raise ConfigError(f"ORCA_POOL_MIN_SIZE must be 0 or more, not {self.pool_min_size}")
        if self.pool_max_size < 1:
            raise ConfigError(f"ORCA_POOL_MAX_SIZE must be 1 or more, not {self.pool_max_size}")
        if self.pool_min_size > self.pool_max_size:
            raise ConfigError(
                f"ORCA_POOL_MIN_SIZE ({self.pool_min_size}) must not exceed ORCA_POOL_MAX_SIZE ({self.pool_max_size})"
            )
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"PORT must be between 1 and 65535, not {self.port}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"ORCA_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")

    @property
    def database_configured(self) -> bool:
        """Whether a database was configured, by ``DATABASE_URL`` or by libpq's ``PG*`` variables."""
        return self.database_url is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read the configuration from ``environ`` (default: the process environment).

        Raises:
            ConfigError: a variable has an invalid value.
        """
        env = os.environ if environ is None else environ
        return cls(
            database_url=_database_url(env),
            pool_min_size=_int(env, "ORCA_POOL_MIN_SIZE", DEFAULT_POOL_MIN_SIZE),
            pool_max_size=_int(env, "ORCA_POOL_MAX_SIZE", DEFAULT_POOL_MAX_SIZE),
            pool_timeout=_seconds(env, "ORCA_POOL_TIMEOUT", DEFAULT_POOL_TIMEOUT),
            pool_max_waiting=_int(env, "ORCA_POOL_MAX_WAITING", DEFAULT_POOL_MAX_WAITING, minimum=0),
            pool_open_timeout=_seconds(env, "ORCA_POOL_OPEN_TIMEOUT", DEFAULT_POOL_OPEN_TIMEOUT),
            health_timeout=_seconds(env, "ORCA_HEALTH_TIMEOUT", DEFAULT_HEALTH_TIMEOUT),
            statement_timeout_ms=_int(env, "ORCA_STATEMENT_TIMEOUT_MS", DEFAULT_STATEMENT_TIMEOUT_MS, minimum=1),
            write_timeout=_seconds(env, "ORCA_WRITE_TIMEOUT", DEFAULT_WRITE_TIMEOUT),
            write_concurrency=_int(env, "ORCA_WRITE_CONCURRENCY", DEFAULT_WRITE_CONCURRENCY, minimum=1),
            write_batch_max=_int(env, "ORCA_WRITE_BATCH_MAX", DEFAULT_WRITE_BATCH_MAX, minimum=1),
            trusted_proxies=parse_networks(env.get("ORCA_TRUSTED_PROXIES", "")),
            port=_int(env, "PORT", DEFAULT_PORT),
            log_level=env.get("ORCA_LOG_LEVEL", DEFAULT_LOG_LEVEL).strip().upper(),
            migrate_on_start=_bool(env, "ORCA_MIGRATE_ON_START", True),
        )


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """Parse a comma-separated list of CIDRs (or single addresses) as in ``ORCA_TRUSTED_PROXIES``.

    Raises:
        ConfigError: an entry is not an IP network.
    """
    networks = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"ORCA_TRUSTED_PROXIES: {item!r} is not an IP network in CIDR form") from None
    return tuple(networks)


def mask_conninfo(conninfo: str) -> str:
    """Return ``conninfo`` with its password replaced by ``***``, fit to be logged."""
    try:
        params = conninfo_to_dict(conninfo)
    except Exception:  # an unparsable string may still hold a secret: show nothing of it
        return "<unparsable connection string>"
    if "password" in params:
        params["password"] = "***"  # noqa: S105 - a mask, not a password
    return make_conninfo(**{k: str(v) for k, v in params.items()})


def _database_url(env: Mapping[str, str]) -> str | None:
    url = env.get("DATABASE_URL", "").strip()
    if url:
        try:
            conninfo_to_dict(url)
        except Exception:  # psycopg's message may echo the secret: say nothing of it
            raise ConfigError("DATABASE_URL is not a valid PostgreSQL connection string or URL") from None
        return url
    if any(env.get(name) for name in LIBPQ_VARIABLES):
        return ""
    return None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be {minimum} or more, not {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value < 3600:
        raise ConfigError(f"{name} must be between 0 and 3600 seconds, not {raw}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")
