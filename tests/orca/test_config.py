"""Configuration from the environment: defaults, database sources, a one-line error for each bad value."""

from __future__ import annotations

import ipaddress

import pytest

from orca.config import DEFAULT_POOL_MAX_SIZE, DEFAULT_PORT, Config, mask_conninfo
from orca.errors import ConfigError


def test_defaults_with_an_empty_environment() -> None:
    config = Config.from_env({})
    assert config.database_url is None
    assert not config.database_configured
    assert config.port == DEFAULT_PORT
    assert config.pool_max_size == DEFAULT_POOL_MAX_SIZE
    assert config.trusted_proxies == ()


def test_database_url_is_the_original_contract() -> None:
    config = Config.from_env({"DATABASE_URL": "postgresql://app@db.internal:5432/orca"})
    assert config.database_url == "postgresql://app@db.internal:5432/orca"


def test_libpq_variables_configure_the_database_too() -> None:
    config = Config.from_env({"PGHOST": "db.internal", "PGUSER": "app"})
    assert config.database_configured
    assert config.database_url == ""


def test_every_setting_is_read() -> None:
    config = Config.from_env(
        {
            "DATABASE_URL": "dbname=orca",
            "ORCA_POOL_MIN_SIZE": "1",
            "ORCA_POOL_MAX_SIZE": "4",
            "ORCA_POOL_TIMEOUT": "0.5",
            "ORCA_POOL_MAX_WAITING": "8",
            "ORCA_TRUSTED_PROXIES": "10.0.0.0/16, 2001:db8::/32",
            "PORT": "9000",
            "ORCA_LOG_LEVEL": "debug",
        }
    )
    assert (config.pool_min_size, config.pool_max_size, config.pool_timeout) == (1, 4, 0.5)
    assert config.pool_max_waiting == 8
    assert config.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/16"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert (config.port, config.log_level) == (9000, "DEBUG")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT must be an integer"),
        ({"PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({"ORCA_POOL_MAX_SIZE": "0"}, "ORCA_POOL_MAX_SIZE must be 1 or more"),
        ({"ORCA_POOL_MIN_SIZE": "5", "ORCA_POOL_MAX_SIZE": "2"}, "must not exceed ORCA_POOL_MAX_SIZE"),
        ({"ORCA_POOL_TIMEOUT": "-1"}, "ORCA_POOL_TIMEOUT must be between 0 and 3600"),
        ({"ORCA_POOL_TIMEOUT": "soon"}, "ORCA_POOL_TIMEOUT must be a number of seconds"),
        ({"ORCA_POOL_MAX_WAITING": "-3"}, "ORCA_POOL_MAX_WAITING must be 0 or more"),
        ({"ORCA_TRUSTED_PROXIES": "10.0.0.0/33"}, "ORCA_TRUSTED_PROXIES: '10.0.0.0/33' is not an IP network"),
        ({"ORCA_LOG_LEVEL": "LOUD"}, "ORCA_LOG_LEVEL must be one of"),
        ({"ORCA_MIGRATE_ON_START": "maybe"}, "ORCA_MIGRATE_ON_START must be true or false"),
        ({"DATABASE_URL": "host=db password='unterminated"}, "DATABASE_URL is not a valid"),
    ],
)
def test_invalid_values_give_a_one_line_error_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        Config.from_env(env)
    assert "\n" not in str(raised.value)


def test_invalid_database_url_error_does_not_echo_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"DATABASE_URL": "host=db password='s3cret"})
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize(
    "conninfo", ["postgresql://app:s3cret@db:5432/orca", "host=db user=app password=s3cret dbname=orca"]
)
def test_masked_connection_strings_hide_the_password(conninfo: str) -> None:
    masked = mask_conninfo(conninfo)
    assert "s3cret" not in masked
    assert "password=***" in masked
    assert "host=db" in masked
