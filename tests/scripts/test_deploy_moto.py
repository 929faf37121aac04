"""The deploy flow through the command line against moto: create, update, no change, leftovers, S3 side."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import boto3
import pytest

from tests.scripts.conftest import (
    BUCKET,
    REGION,
    STACK,
    Recorder,
    root_template,
    run_cli,
    write_templates,
)

pytestmark = pytest.mark.usefixtures("aws")

# Every root parameter set explicitly, on the create too: moto compares the parameters as sent, and does not
# detect "no changes" when one is sent with UsePreviousValue (the Stubber tests assert that request instead).
SAME_VALUES = ("--certificate-arn", "", "--image-repository", "orca")


def cfn():  # type: ignore[no-untyped-def]
    return boto3.client("cloudformation", region_name=REGION)


def stack_status(name: str = STACK) -> str:
    return str(cfn().describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def stack_names() -> set[str]:
    return {s["StackName"] for s in cfn().describe_stacks()["Stacks"]}


def change_sets() -> list[str]:
    # moto lists every change set of the region whatever the StackName; that only makes this stricter.
    return [s["ChangeSetId"] for s in cfn().list_change_sets(StackName=STACK)["Summaries"]]


def template_keys() -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_create_update_and_no_change_cycle_takes_under_ten_seconds(templates: Path) -> None:
    started = time.perf_counter()

    created = run_cli("--image-tag", "v1", "--templates", str(templates), "--yes", *SAME_VALUES)
    assert created.code == 0, created.err
    assert stack_status() == "CREATE_COMPLETE"
    assert change_sets() == []

    # No change before the update: moto only recognises "no changes" against the parameters the stack was
    # created with (a change set does not update them); the Stubber tests cover no change after an update.
    unchanged = run_cli("--image-tag", "v1", "--templates", str(templates), "--yes", *SAME_VALUES)
    assert unchanged.code == 0, unchanged.err
    assert f"No changes to stack {STACK}: nothing to do." in unchanged.out
    assert change_sets() == []

    updated = run_cli("--image-tag", "v2", "--templates", str(templates), "--yes")
    assert updated.code == 0, updated.err
    assert stack_status() == "UPDATE_COMPLETE"
    assert change_sets() == []

    assert time.perf_counter() - started < 10


def test_a_deploy_prints_the_review_progress_and_outcome(templates: Path) -> None:
    result = run_cli("--image-tag", "v1", "--templates", str(templates), "--yes")

    assert result.code == 0
    assert f"Change set for stack {STACK} (CREATE)" in result.out
    assert "Add     orca-test  DatabaseStack  AWS::CloudFormation::Stack" in result.out
    assert "CREATE_COMPLETE" in result.out
    assert f"Deployed: {STACK} is CREATE_COMPLETE." in result.out
    assert result.err == ""


def test_templates_are_uploaded_under_their_sha256(templates: Path) -> None:
    run_cli("--image-tag", "v1", "--templates", str(templates), "--yes")

    expected = {
        f"{STACK}/templates/{hashlib.sha256((templates / name).read_bytes()).hexdigest()}.json"
        for name in ("root.json", "database.json")
    }
    assert set(template_keys()) == expected


def test_an_unchanged_child_keeps_its_key_and_a_changed_one_gets_a_new_key(templates: Path, tmp_path: Path) -> None:
    run_cli("--image-tag", "v1", "--templates", str(templates), "--yes")
    first = template_keys()

    run_cli("--image-tag", "v2", "--templates", str(templates), "--yes")
    assert template_keys() == first

    changed = write_templates(tmp_path / "changed", db_name="orca2")
    run_cli("--image-tag", "v2", "--templates", str(changed), "--no-execute")
    assert len(template_keys()) == len(first) + 1


def test_no_execute_on_a_new_stack_leaves_neither_stack_nor_change_set(templates: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"

    result = run_cli("--image-tag", "v1", "--templates", str(templates), "--no-execute", "--summary", str(summary))

    assert result.code == 0
    assert STACK not in stack_names()
    assert change_sets() == []
    text = summary.read_text()
    assert "| Add | orca-test | DatabaseStack | AWS::CloudFormation::Stack |" in text
    assert "Not executed (--no-execute). Changes would be applied." in text


def test_no_change_summary_says_nothing_would_change(templates: Path, tmp_path: Path) -> None:
    run_cli("--image-tag", "v1", "--templates", str(templates), "--yes", *SAME_VALUES)
    summary = tmp_path / "summary.md"

    result = run_cli(
        "--image-tag", "v1", "--templates", str(templates), "--no-execute", "--summary", str(summary), *SAME_VALUES
    )  # fmt: skip

    assert result.code == 0
    assert "No changes: nothing would change." in summary.read_text()
    assert change_sets() == []


def test_an_empty_stack_left_in_review_in_progress_is_deleted_before_the_create(templates: Path) -> None:
    leftover = cfn().create_change_set(
        StackName=STACK,
        ChangeSetName="abandoned",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}),
    )
    cfn().delete_change_set(ChangeSetName=leftover["Id"])
    assert stack_status() == "REVIEW_IN_PROGRESS"

    result = run_cli("--image-tag", "v1", "--templates", str(templates), "--yes")

    assert result.code == 0, result.err
    assert "is REVIEW_IN_PROGRESS, left by an earlier failed create: deleting it first" in result.out
    assert stack_status() == "CREATE_COMPLETE"
    assert change_sets() == []


def test_a_failed_execution_exits_1_and_leaves_no_change_set_or_empty_stack(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    template = root_template()
    # moto fails the execution itself on a Ref to nothing (AWS would reject the change set).
    template["Resources"]["Releases"]["Properties"]["TopicName"] = {"Ref": "Nothing"}
    del template["Resources"]["DatabaseStack"]
    template["Parameters"].pop("DatabaseTemplateUrl")
    (broken / "root.json").write_text(json.dumps(template))

    result = run_cli("--image-tag", "v1", "--templates", str(broken), "--yes")

    assert result.code == 1
    assert len(result.err.splitlines()) == 1
    assert "Traceback" not in result.err
    assert change_sets() == []
    assert STACK not in stack_names()


def test_without_a_terminal_and_without_yes_the_deploy_is_refused(templates: Path) -> None:
    result = run_cli("--image-tag", "v1", "--templates", str(templates), recorder=Recorder(tty=False))

    assert result.code == 3
    assert "no terminal to confirm on: pass --yes" in result.err
    assert STACK not in stack_names()
    assert change_sets() == []


def test_a_declined_prompt_changes_nothing(templates: Path) -> None:
    recorder = Recorder(tty=True, answer="n")

    result = run_cli("--image-tag", "v1", "--templates", str(templates), recorder=recorder)

    assert result.code == 3
    assert recorder.prompts == [f"Execute this change set on {STACK}? [y/N] "]
    assert STACK not in stack_names()
    assert change_sets() == []


def test_a_confirmed_prompt_deploys(templates: Path) -> None:
    result = run_cli("--image-tag", "v1", "--templates", str(templates), recorder=Recorder(tty=True, answer="y"))

    assert result.code == 0
    assert stack_status() == "CREATE_COMPLETE"


def test_after_a_deploy_every_stack_denies_replacing_or_deleting_stateful_resources(templates: Path) -> None:
    run_cli("--image-tag", "v1", "--templates", str(templates), "--yes")
    nested = next(r for r in cfn().describe_stack_resources(StackName=STACK)["StackResources"])

    root_policy = json.loads(cfn().get_stack_policy(StackName=STACK)["StackPolicyBody"])
    nested_policy = json.loads(cfn().get_stack_policy(StackName=nested["PhysicalResourceId"])["StackPolicyBody"])

    denied_resources = [s["Resource"] for s in root_policy["Statement"] if s["Effect"] == "Deny"]
    assert ["LogicalResourceId/DatabaseStack"] in denied_resources
    typed = next(s for s in nested_policy["Statement"] if "Condition" in s)
    assert typed["Effect"] == "Deny"
    assert typed["Action"] == ["Update:Replace", "Update:Delete"]
    assert "AWS::RDS::DBInstance" in typed["Condition"]["StringEquals"]["ResourceType"]


def test_the_stack_name_defaults_from_the_environment(templates: Path) -> None:
    result = run_cli("--image-tag", "v1", "--templates", str(templates), "--no-execute")

    assert result.code == 0
    assert "Change set for stack orca-test (CREATE)" in result.out


def test_a_missing_bucket_is_a_one_line_configuration_error(templates: Path) -> None:
    result = run_cli(
        "--env", "test", "--region", REGION, "--bucket", "no-such-bucket", "--image-tag", "v1",
        "--templates", str(templates), "--yes", base=False,
    )  # fmt: skip

    assert result.code == 2
    assert result.err == "orca-deploy: bucket no-such-bucket does not exist\n"


def test_a_bucket_in_another_region_is_a_configuration_error(templates: Path) -> None:
    boto3.client("s3", region_name="us-west-2").create_bucket(
        Bucket="orca-elsewhere", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )

    result = run_cli(
        "--env", "test", "--region", REGION, "--bucket", "orca-elsewhere", "--image-tag", "v1",
        "--templates", str(templates), base=False,
    )  # fmt: skip

    assert result.code == 2
    assert result.err == f"orca-deploy: bucket orca-elsewhere is in us-west-2, not in {REGION}\n"


def test_the_stack_is_deployed_as_the_given_cloudformation_role(templates: Path) -> None:
    role = "arn:aws:iam::123456789012:role/orca-cloudformation-execution"
    result = run_cli("--image-tag", "v1", "--templates", str(templates), "--yes", "--role-arn", role)
    assert result.code == 0, result.err
    assert cfn().describe_stacks(StackName=STACK)["Stacks"][0]["RoleARN"] == role


def test_a_malformed_role_arn_is_a_usage_error(templates: Path) -> None:
    result = run_cli("--image-tag", "v1", "--templates", str(templates), "--yes", "--role-arn", "admin")
    assert result.code == 2
    assert "--role-arn 'admin' is not an IAM role ARN" in result.err
    assert stack_names() == set()


CERTIFICATE = f"arn:aws:acm:{REGION}:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab"


def stack_parameters() -> dict[str, str]:
    found = cfn().describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in found}


def test_an_update_keeps_the_certificate_and_repository_set_earlier(templates: Path) -> None:
    created = run_cli(
        "--image-tag", "v1", "--templates", str(templates), "--yes",
        "--certificate-arn", CERTIFICATE, "--image-repository", "orca-app",
    )  # fmt: skip
    assert created.code == 0, created.err

    updated = run_cli("--image-tag", "v2", "--templates", str(templates), "--yes")

    assert updated.code == 0, updated.err
    parameters = stack_parameters()
    assert parameters["ImageTag"] == "v2"
    assert parameters["CertificateArn"] == CERTIFICATE
    assert parameters["ImageRepositoryName"] == "orca-app"
