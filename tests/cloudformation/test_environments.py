"""Environment descriptions: both shipped environments are valid, and a bad value stops the build in one line."""

from __future__ import annotations

import dataclasses

import pytest

from cloudformation import environments
from cloudformation.environments import ENVIRONMENTS, Environment, InvalidEnvironment

TEST = ENVIRONMENTS["test"]


def _replace(**changes: object) -> Environment:
    return dataclasses.replace(TEST, **changes)  # type: ignore[arg-type]


def test_shipped_environments_are_test_and_prod() -> None:
    assert sorted(ENVIRONMENTS) == ["prod", "test"]


def test_default_region_is_us_east_2() -> None:
    assert all(env.region == "us-east-2" for env in ENVIRONMENTS.values())


def test_prod_is_multi_az_with_deletion_protection() -> None:
    prod = ENVIRONMENTS["prod"]
    assert prod.db_multi_az
    assert prod.deletion_protection


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_count": 5, "max_count": 4, "desired_count": 4}, "min_count 5 is above max_count 4"),
        ({"vpc_cidr": "10.0.0.0/33"}, "is not a valid IPv4 CIDR"),
        ({"public_subnet_cidrs": ("10.10.0.0/24", "not-a-cidr")}, "is not a valid IPv4 CIDR"),
        ({"public_subnet_cidrs": ("10.99.0.0/24", "10.10.1.0/24")}, "is outside the VPC"),
        ({"private_subnet_cidrs": ("10.10.0.0/24", "10.10.11.0/24")}, "overlap"),
        ({"alarm_email": "not-an-address"}, "is not an e-mail address"),
        ({"task_cpu": 256, "task_memory": 4096}, "is not valid with task_cpu 256"),
        ({"task_cpu": 300}, "is not a Fargate size"),
        ({"desired_count": 9}, "desired_count 9 is outside 2..4"),
        ({"certificate_arn": "arn:nope"}, "is not an ACM ARN"),
        ({"log_retention_days": 42}, "is not one CloudWatch Logs accepts"),
    ],
)
def test_invalid_value_fails_with_one_line_message(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEnvironment, match=message) as caught:
        _replace(**changes)
    assert "\n" not in str(caught.value)


def test_capacity_check_fails_and_says_by_how_much() -> None:
    # db.t4g.micro allows ~84 connections: 10 tasks x 10 + 10 headroom = 110, 26 too many.
    with pytest.raises(InvalidEnvironment, match=r"= 110 connections exceeds max_connections 84 .* by 26$"):
        _replace(max_count=10)


def test_capacity_check_accounts_for_headroom() -> None:
    needed = TEST.max_count * TEST.pool_max_size + environments.CONNECTION_HEADROOM
    assert TEST.connections_needed == needed <= TEST.max_connections


def test_max_connections_estimate_for_micro_is_in_the_documented_range() -> None:
    assert 80 <= environments.max_connections("db.t4g.micro") <= 100


def test_unknown_environment_is_rejected() -> None:
    with pytest.raises(InvalidEnvironment, match="unknown environment 'staging'"):
        environments.get("staging")
