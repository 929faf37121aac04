"""The deploy tool's errors; each carries the exit code the command line returns for it."""

from __future__ import annotations


class DeployError(Exception):
    """A deploy that cannot go on; the message is one line meant for a person."""

    exit_code = 1


class ConfigError(DeployError):
    """Bad options, templates, bucket, region or credentials: nothing was changed (exit 2)."""

    exit_code = 2


class Refused(DeployError):
    """A guard refused to go on: stateful replacement, stack busy, no confirmation (exit 3)."""

    exit_code = 3


class DeployFailed(DeployError):
    """The change set or its execution failed (exit 1)."""

    exit_code = 1
