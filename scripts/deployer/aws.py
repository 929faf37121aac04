"""boto3 clients for the deploy tool and one-line explanations of AWS errors."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from scripts.deployer.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

# Standard mode retries throttling and transient errors with backoff and a retry quota; legacy mode (the
# default) treats fewer errors as retryable. More attempts than the default three ride out a busy account.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6})

THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}
)
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "AuthFailure",
    }
)
ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AllAccessDisabled"})

_REGION_SHAPE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def known_regions() -> frozenset[str]:
    """Every region botocore knows for CloudFormation, across partitions."""
    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("cloudformation", partition_name=partition)
    )


def resolve_region(region: str | None) -> str:
    """The region to deploy to: ``--region`` or boto3's default chain (AWS_REGION, profile).

    Raises:
        ConfigError: no region is configured, or it is not a region botocore knows.
    """
    chosen = region or boto3.session.Session().region_name
    if not chosen:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION")
    if not _REGION_SHAPE.match(chosen) or chosen not in known_regions():
        raise ConfigError(f"unknown AWS region {chosen!r}: check --region / AWS_REGION")
    return chosen


def make_clients(region: str) -> tuple[CloudFormationClient, S3Client]:
    """CloudFormation and S3 clients for ``region`` with standard-mode retries."""
    session = boto3.session.Session(region_name=region)
    return (
        session.client("cloudformation", config=CLIENT_CONFIG),
        session.client("s3", config=CLIENT_CONFIG),
    )


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ("" when the response has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def explain(exc: Exception) -> tuple[int, str] | None:
    """An exit code and a one-line message for a botocore error, or None if it is not one."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return 2, "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, NoRegionError):
        return 2, "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError):
        return 2, _one_line(f"cannot reach AWS ({exc}); check --region and the network")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = _one_line(str(exc.response.get("Error", {}).get("Message", "")) or str(exc))
        operation = exc.operation_name
        if code in THROTTLING_CODES:
            return 1, f"AWS kept throttling {operation} after retries ({code}): {message}"
        if code in CREDENTIAL_CODES:
            return 2, f"AWS rejected the credentials ({code}): {message}"
        if code in ACCESS_CODES:
            return 2, f"access denied to {operation} ({code}): {message}"
        return 1, f"{operation} failed ({code}): {message}"
    if isinstance(exc, BotoCoreError):
        return 1, _one_line(f"AWS client error: {exc}")
    return None
