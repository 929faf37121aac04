"""The Lambda entry point, driven with the event an Application Load Balancer sends to a Lambda target."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from orca.lambda_handler import create_handler
from tests.orca.conftest import rows


def alb_event(path: str, xff: str) -> dict[str, Any]:
    """An ALB (single-value headers) event, as in AWS's documentation of Lambda targets."""
    return {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/orca/49e9d65c45c6791"
            }
        },
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": {"q": "1"},
        "headers": {
            "accept": "application/json",
            "host": "orca-123578498.us-east-2.elb.amazonaws.com",
            "user-agent": "lambda-probe/1.0",
            "x-amzn-trace-id": "Root=1-5c536348-3d683b8b04734faae651f476",
            "x-forwarded-for": xff,
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "body": "",
        "isBase64Encoded": False,
    }


@pytest.fixture(autouse=True)
def close_event_loop() -> Iterator[None]:
    """Close the loop the handler sets up for its process's life, as the end of a Lambda process would."""
    yield
    asyncio.get_event_loop_policy().get_event_loop().close()
    asyncio.set_event_loop(None)


class FakeContext:
    """The parts of the Lambda context object Mangum reads."""

    function_name = "orca"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"


def test_alb_event_is_logged_and_answered(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db)
    handler = create_handler()
    response = handler(alb_event("/from-lambda", "6.6.6.6, 72.12.164.125"), FakeContext())
    assert response["statusCode"] == 200
    [entry] = json.loads(response["body"])
    assert entry["path"] == "/from-lambda"
    assert entry["user_agent"] == "lambda-probe/1.0"
    # The client's own "6.6.6.6" is ignored: the ALB's appended address is the client.
    assert entry["ip"] == "72.12.164.125"
    assert entry["xff"] == "6.6.6.6, 72.12.164.125"
    assert response["headers"]["x-request-id"] == "Root=1-5c536348-3d683b8b04734faae651f476"
    assert rows(db) == [(1,)]


def test_each_invocation_runs_a_whole_lifespan(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db)
    handler = create_handler()
    for i in range(3):
        assert handler(alb_event(f"/call/{i}", "72.12.164.125"), FakeContext())["statusCode"] == 200
    health = handler(dict(alb_event("/_healthz", "72.12.164.125")), FakeContext())
    assert json.loads(health["body"]) == {"status": "HEALTHY", "count": 3}
