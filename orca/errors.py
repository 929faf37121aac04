"""The service's own exception classes: raised where callers must tell cases apart."""

from __future__ import annotations


class OrcaError(Exception):
    """Base class of the service's errors; its message is shown to the user on one line."""


class ConfigError(OrcaError):
    """The configuration (environment variables or command-line options) is invalid."""


class EmbeddedDatabaseError(OrcaError):
    """The embedded PostgreSQL server could not be started."""


class MigrationError(OrcaError):
    """A schema migration could not be applied."""
