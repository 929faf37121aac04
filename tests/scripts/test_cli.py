"""The command line's edges: usage and configuration errors, credentials, retries, rendering, protection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.stub import ANY

from scripts.deployer.aws import make_clients
from scripts.deployer.protection import protect
from tests.scripts.conftest import BUCKET, REGION, Recorder, run_cli
from tests.scripts.stubs import NESTED_ID, STACK_ID, StubbedCloudFormation


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "Prod!", "--image-tag", "v1"], "--env 'Prod!' is not a lowercase environment name"),
        (["--env", "test", "--image-tag", "v 1"], "--image-tag 'v 1' is not a valid image tag"),
        (["--env", "test", "--image-tag", "v1", "--region", "mars-west-1"], "unknown AWS region 'mars-west-1'"),
        (["--env", "test", "--image-tag", "v1", "--templates", "/nonexistent"], "does not exist"),
        (["--env", "test", "--image-tag", "v1", "--stack-name", "orca_test"], "not a valid CloudFormation stack"),
        (["--env", "test", "--image-tag", "v1", "--poll-interval", "-1"], "--poll-interval must not be negative"),
        (
            ["--env", "test", "--image-tag", "v1", "--certificate-arn", "arn:aws:iam::123456789012:role/x"],
            "--certificate-arn 'arn:aws:iam::123456789012:role/x' is not an ACM certificate ARN",
        ),
        (
            [
                "--env",
                "test",
                "--image-tag",
                "v1",
                "--region",
                "eu-west-1",
                "--certificate-arn",
                "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab",
            ],
            "--certificate-arn is in us-east-1, the deploy is in eu-west-1",
        ),
        (
            ["--env", "test", "--image-tag", "v1", "--image-repository", "Orca"],
            "--image-repository 'Orca' is not a valid ECR repository name",
        ),
        (
            ["--env", "test", "--image-tag", "v1", "--image-repository", "orca//app"],
            "--image-repository 'orca//app' is not a valid ECR repository name",
        ),
    ],
)
@pytest.mark.usefixtures("aws")  # should validation ever let one through, it meets moto, not AWS
def test_bad_options_are_a_one_line_configuration_error(args: list[str], message: str) -> None:
    result = run_cli("--bucket", BUCKET, *args, base=False)

    assert result.code == 2
    assert message in result.err
    assert len(result.err.splitlines()) == 1


def test_a_missing_required_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli("--env", "test", base=False)

    assert result.code == 2
    assert "the following arguments are required: --image-tag, --bucket" in capsys.readouterr().err


def test_no_region_anywhere_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    result = run_cli("--env", "test", "--bucket", BUCKET, "--image-tag", "v1", base=False)

    assert result.code == 2
    assert result.err == "orca-deploy: no AWS region: pass --region or set AWS_REGION\n"


def test_missing_credentials_are_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, templates: Path) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = run_cli("--image-tag", "v1", "--templates", str(templates))

    assert result.code == 2
    assert result.err == (
        "orca-deploy: no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"
    )


def test_clients_retry_in_botocore_standard_mode() -> None:
    cfn, s3 = make_clients(REGION)

    assert cfn.meta.config.retries["mode"] == "standard"
    assert s3.meta.config.retries["mode"] == "standard"
    assert cfn.meta.region_name == REGION


@pytest.mark.usefixtures("aws")
def test_without_templates_the_cloudformation_package_renders_them(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"

    result = run_cli("--image-tag", "v1", "--no-execute", "--summary", str(summary))

    assert result.code == 0, result.err
    assert "| Add | orca-test | DatabaseStack | AWS::CloudFormation::Stack |" in summary.read_text()


def test_prod_gets_termination_protection_and_every_stack_a_policy() -> None:
    with StubbedCloudFormation() as cfn:
        cfn.tree()
        cfn.set_policies()
        cfn.stubber.add_response(
            "update_termination_protection",
            {"StackId": STACK_ID},
            {"StackName": STACK_ID, "EnableTerminationProtection": True},
        )

        protect(cfn.client, STACK_ID, env="prod", runtime=Recorder().runtime())

        cfn.stubber.assert_no_pending_responses()


def test_the_root_policy_names_the_nested_database_stack() -> None:
    with StubbedCloudFormation() as cfn:
        cfn.tree()
        policies: dict[str, str] = {}
        for stack_id in (STACK_ID, NESTED_ID):
            cfn.stubber.add_response("set_stack_policy", {}, {"StackName": stack_id, "StackPolicyBody": ANY})
        original = cfn.client.set_stack_policy

        def record(**kwargs: str) -> object:
            policies[kwargs["StackName"]] = kwargs["StackPolicyBody"]
            return original(**kwargs)

        cfn.client.set_stack_policy = record  # type: ignore[method-assign]
        protect(cfn.client, STACK_ID, env="test", runtime=Recorder().runtime())

    root = json.loads(policies[STACK_ID])["Statement"]
    nested = json.loads(policies[NESTED_ID])["Statement"]
    assert {"Effect": "Deny", "Action": ["Update:Replace", "Update:Delete"], "Principal": "*",
            "Resource": ["LogicalResourceId/DatabaseStack"]} in root  # fmt: skip
    assert not any("LogicalResourceId/" in str(s["Resource"]) for s in nested)


@pytest.mark.parametrize("name", ["orca", "team/orca-app", "a1", "orca_app.v2"])
def test_ecr_repository_names_are_accepted(name: str) -> None:
    from scripts.deploy import _IMAGE_REPOSITORY

    assert _IMAGE_REPOSITORY.match(name)
