"""What moto cannot produce, through the command line with a stubbed CloudFormation (S3 stays on moto):
nested change sets with replacements, failed updates and their rollback, leftover and busy stacks, throttling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.deployer.templates import template_url
from tests.scripts.conftest import BUCKET, REGION, STACK, Recorder, Result, run_cli
from tests.scripts.stubs import (
    CHANGE_SET_ID,
    NESTED_CHANGE_SET_ID,
    NESTED_ID,
    NO_CHANGES,
    STACK_ID,
    StubbedCloudFormation,
    event,
    resource_change,
)

pytestmark = pytest.mark.usefixtures("aws")

NEW_STACK_ID = STACK_ID.replace("11111111", "99999999")
STACK_TYPE = "AWS::CloudFormation::Stack"
RDS_TYPE = "AWS::RDS::DBInstance"


@pytest.fixture
def cfn() -> Iterator[StubbedCloudFormation]:
    with StubbedCloudFormation() as stubbed:
        yield stubbed
        # Every queued call was made: the change set's deletion above all.
        stubbed.stubber.assert_no_pending_responses()


def deploy(cfn: StubbedCloudFormation, templates: Path, *args: str, recorder: Recorder | None = None) -> Result:
    return run_cli("--image-tag", "v2", "--templates", str(templates), *args, recorder=recorder, clients=cfn.clients)


def database_replacement(cfn: StubbedCloudFormation, *, replacement: str = "True") -> None:
    """An update whose nested database change set replaces the RDS instance."""
    cfn.stack("UPDATE_COMPLETE")
    cfn.create_change_set()
    cfn.change_set([], status="CREATE_IN_PROGRESS")
    cfn.change_set(
        [
            resource_change("DatabaseStack", STACK_TYPE, physical_id=NESTED_ID, nested_change_set=NESTED_CHANGE_SET_ID),
            resource_change("Releases", "AWS::SNS::Topic", replacement="True", recreate=("TopicName",)),
        ]
    )
    cfn.change_set(
        [
            resource_change("Database", RDS_TYPE, replacement=replacement, physical_id="orca-db", recreate=("DBName",)),
            resource_change("DatabaseLogs", "AWS::Logs::LogGroup", physical_id="lg"),
        ],
        change_set_id=NESTED_CHANGE_SET_ID,
        stack_id=NESTED_ID,
    )


def test_replacing_the_nested_database_is_refused_with_exit_3_and_shown(
    cfn: StubbedCloudFormation, templates: Path, tmp_path: Path
) -> None:
    database_replacement(cfn)
    cfn.delete_change_set()
    summary = tmp_path / "summary.md"

    result = deploy(cfn, templates, "--yes", "--summary", str(summary))

    assert result.code == 3
    assert result.err == (
        "orca-deploy: refusing to remove or replace stateful resources (orca-test/DatabaseStack/Database); "
        "see --allow-replacement\n"
    )
    row = next(line for line in result.out.splitlines() if " Database " in line)
    assert row.split() == [
        "!!",
        "MODIFY",
        "orca-test/DatabaseStack",
        "Database",
        RDS_TYPE,
        "True",
        "(DBName)",
        "Properties",
    ]
    topic = next(line for line in result.out.splitlines() if "Releases" in line)
    assert topic.startswith("! ")
    text = summary.read_text()
    assert (
        "| :no_entry: **MODIFY** | orca-test/DatabaseStack | Database | AWS::RDS::DBInstance | True (DBName) |" in text
    )
    assert "Refused: would remove or replace stateful resources" in text


def test_a_conditional_replacement_of_the_database_is_refused_too(cfn: StubbedCloudFormation, templates: Path) -> None:
    database_replacement(cfn, replacement="Conditional")
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes")

    assert result.code == 3
    assert "Conditional (DBName)" in result.out


def test_change_set_polling_uses_the_poll_interval_not_the_waiter(cfn: StubbedCloudFormation, templates: Path) -> None:
    database_replacement(cfn)
    cfn.delete_change_set()
    recorder = Recorder()

    deploy(cfn, templates, "--yes", recorder=recorder)

    assert recorder.sleeps == [1.0]


def test_removing_a_nested_stack_that_holds_the_database_is_refused(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    cfn.stack("UPDATE_COMPLETE")
    cfn.create_change_set()
    cfn.change_set([resource_change("DatabaseStack", STACK_TYPE, action="Remove", physical_id=NESTED_ID)])
    cfn.resources(NESTED_ID, [("Database", RDS_TYPE, "orca-db")])
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes")

    assert result.code == 3
    assert "orca-test/DatabaseStack" in result.err


def test_with_allow_replacement_the_database_is_replaced_under_lifted_policies(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    database_replacement(cfn)
    cfn.tree()
    cfn.set_policies()  # lifted
    cfn.events(STACK_ID, [event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID)])
    cfn.execute()
    outputs = [
        {"OutputKey": "AlarmTopicArn", "OutputValue": "arn:aws:sns:topic"},
        {"OutputKey": "ServiceUrl", "OutputValue": "https://orca.example.test"},
    ]
    replacing = "Requested update requires the creation of a new physical resource"
    # First poll: the root is updating the nested stack, which is replacing the instance.
    cfn.stack("UPDATE_IN_PROGRESS", name=STACK_ID)
    root_events = [
        event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID),
        event(1, STACK, STACK_TYPE, "UPDATE_IN_PROGRESS", PhysicalResourceId=STACK_ID),
        event(2, "DatabaseStack", STACK_TYPE, "UPDATE_IN_PROGRESS", PhysicalResourceId=NESTED_ID),
    ]
    nested_events = [
        event(3, "Database", RDS_TYPE, "UPDATE_IN_PROGRESS", stack_id=NESTED_ID, ResourceStatusReason=replacing)
    ]
    cfn.events(STACK_ID, root_events)
    cfn.events(NESTED_ID, nested_events)
    # Second poll: all done.
    cfn.stack("UPDATE_COMPLETE", name=STACK_ID, Outputs=outputs)
    root_events += [
        event(8, "DatabaseStack", STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=NESTED_ID),
        event(9, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID),
    ]
    nested_events += [event(7, "Database", RDS_TYPE, "UPDATE_COMPLETE", stack_id=NESTED_ID)]
    cfn.events(STACK_ID, root_events)
    cfn.events(NESTED_ID, nested_events)
    cfn.tree()
    cfn.set_policies()  # protective again
    cfn.stack("UPDATE_COMPLETE", name=STACK_ID, Outputs=outputs)
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes", "--allow-replacement")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "Stack policies lifted for this execution (--allow-replacement)." in lines
    progress = [line.split(maxsplit=2)[2] for line in lines if line.endswith(("_PROGRESS", "_COMPLETE", replacing))]
    assert progress == [
        "orca-test orca-test AWS::CloudFormation::Stack UPDATE_IN_PROGRESS",
        "orca-test DatabaseStack AWS::CloudFormation::Stack UPDATE_IN_PROGRESS",
        f"orca-test/DatabaseStack Database AWS::RDS::DBInstance UPDATE_IN_PROGRESS {replacing}",
        "orca-test/DatabaseStack Database AWS::RDS::DBInstance UPDATE_COMPLETE",
        "orca-test DatabaseStack AWS::CloudFormation::Stack UPDATE_COMPLETE",
        "orca-test orca-test AWS::CloudFormation::Stack UPDATE_COMPLETE",
    ]
    outputs = lines[lines.index("Deployed: orca-test is UPDATE_COMPLETE.") + 1 :]
    assert outputs == ["  ServiceUrl = https://orca.example.test", "  AlarmTopicArn = arn:aws:sns:topic"]


def test_a_failed_update_prints_the_first_reason_and_the_rollback_and_exits_1(
    cfn: StubbedCloudFormation, templates: Path, tmp_path: Path
) -> None:
    cfn.stack("UPDATE_COMPLETE")
    cfn.create_change_set()
    cfn.change_set([resource_change("Releases", "AWS::SNS::Topic")])
    cfn.events(STACK_ID, [event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID)])
    cfn.execute()
    cfn.stack("UPDATE_ROLLBACK_COMPLETE", name=STACK_ID)
    cfn.events(STACK_ID, [
        event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID),
        event(1, STACK, STACK_TYPE, "UPDATE_IN_PROGRESS", PhysicalResourceId=STACK_ID),
        event(2, "Releases", "AWS::SNS::Topic", "UPDATE_FAILED",
              ResourceStatusReason="Invalid parameter: TopicName (Service: Sns, Status Code: 400)"),
        event(3, "Other", "AWS::SNS::Topic", "UPDATE_FAILED", ResourceStatusReason="Resource update cancelled"),
        event(4, STACK, STACK_TYPE, "UPDATE_ROLLBACK_IN_PROGRESS", PhysicalResourceId=STACK_ID,
              ResourceStatusReason="The following resource(s) failed to update: [Releases]."),
        event(5, "Releases", "AWS::SNS::Topic", "UPDATE_COMPLETE"),
        event(6, STACK, STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE", PhysicalResourceId=STACK_ID),
    ])  # fmt: skip
    cfn.delete_change_set()
    summary = tmp_path / "summary.md"

    result = deploy(cfn, templates, "--yes", "--summary", str(summary))

    assert result.code == 1
    lines = result.out.splitlines()
    failed_at = lines.index("FAILED: orca-test is UPDATE_ROLLBACK_COMPLETE.")
    assert lines[failed_at + 1 :] == [
        "  orca-test/Releases: Invalid parameter: TopicName (Service: Sns, Status Code: 400)",
        "Rollback: the update rolled back; the stack is as it was before.",
    ]
    assert "Failed: UPDATE_ROLLBACK_COMPLETE" in summary.read_text()


def test_no_change_after_an_update_deletes_the_change_set_and_exits_0(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    cfn.stack("UPDATE_COMPLETE")
    cfn.create_change_set()
    cfn.change_set([], status="FAILED", reason=NO_CHANGES)
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes")

    assert result.code == 0
    assert f"No changes to stack {STACK}: nothing to do." in result.out


def test_a_failed_change_set_prints_its_reason_is_deleted_and_exits_1(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    cfn.stack("UPDATE_COMPLETE")
    cfn.create_change_set()
    cfn.change_set([], status="FAILED", reason="Template format error: Unresolved resource dependencies [Nope]")
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes")

    assert result.code == 1
    assert result.err == (
        "orca-deploy: the change set failed: Template format error: Unresolved resource dependencies [Nope]\n"
    )


@pytest.mark.parametrize("leftover", ["ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"])
def test_an_empty_leftover_stack_is_deleted_and_a_create_follows(
    cfn: StubbedCloudFormation, templates: Path, leftover: str
) -> None:
    cfn.stack(leftover)
    cfn.delete_stack(STACK_ID)
    cfn.stack("DELETE_IN_PROGRESS", name=STACK_ID)
    cfn.stack("DELETE_COMPLETE", name=STACK_ID)
    cfn.create_change_set("CREATE", stack_id=NEW_STACK_ID)
    cfn.change_set([resource_change("Releases", "AWS::SNS::Topic", action="Add")], stack_id=NEW_STACK_ID)
    cfn.delete_change_set()
    # The unexecuted CREATE change set's empty stack goes too.
    cfn.stack("REVIEW_IN_PROGRESS", name=NEW_STACK_ID, stack_id=NEW_STACK_ID)
    cfn.delete_stack(NEW_STACK_ID)

    result = deploy(cfn, templates, "--no-execute")

    assert result.code == 0, result.err
    assert f"Stack {STACK} is {leftover}, left by an earlier failed create: deleting it first." in result.out
    assert "Change set for stack orca-test (CREATE)" in result.out


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED"])
def test_a_busy_or_broken_stack_is_refused_with_its_state_named(
    cfn: StubbedCloudFormation, templates: Path, status: str
) -> None:
    cfn.stack(status)

    result = deploy(cfn, templates, "--yes")

    assert result.code == 3
    assert f"stack {STACK} is {status}" in result.err


def test_throttling_that_outlasts_the_retries_is_one_line_and_exit_1(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    cfn.error("describe_stacks", "Throttling", "Rate exceeded")

    result = deploy(cfn, templates, "--yes")

    assert result.code == 1
    assert result.err == "orca-deploy: AWS kept throttling DescribeStacks after retries (Throttling): Rate exceeded\n"


def test_an_error_after_the_change_set_exists_still_deletes_it(cfn: StubbedCloudFormation, templates: Path) -> None:
    cfn.stack("UPDATE_COMPLETE")
    cfn.create_change_set()
    cfn.error("describe_change_set", "Throttling", "Rate exceeded")
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes")

    assert result.code == 1
    assert CHANGE_SET_ID not in result.err


CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab"


def database_url(templates: Path) -> str:
    digest = hashlib.sha256((templates / "database.json").read_bytes()).hexdigest()
    return template_url(BUCKET, REGION, f"{STACK}/templates/{digest}.json")


def stack_parameters(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def test_an_update_keeps_the_root_parameters_it_does_not_set_with_use_previous_value(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    existing = stack_parameters(
        DatabaseTemplateUrl="https://old", ImageTag="v1", Environment="test",
        CertificateArn=CERTIFICATE, ImageRepositoryName="orca-app",
    )  # fmt: skip
    cfn.stack("UPDATE_COMPLETE", Parameters=existing)
    cfn.create_change_set(
        parameters=[
            {"ParameterKey": "CertificateArn", "UsePreviousValue": True},
            {"ParameterKey": "DatabaseTemplateUrl", "ParameterValue": database_url(templates)},
            {"ParameterKey": "Environment", "ParameterValue": "test"},
            {"ParameterKey": "ImageRepositoryName", "UsePreviousValue": True},
            {"ParameterKey": "ImageTag", "ParameterValue": "v2"},
        ]
    )
    cfn.change_set([], status="FAILED", reason=NO_CHANGES)
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes")

    assert result.code == 0, result.err


def test_explicit_values_are_sent_and_a_parameter_new_to_the_stack_takes_its_default(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    # A stack from before the root declared CertificateArn: there is no previous value to keep.
    existing = stack_parameters(DatabaseTemplateUrl="https://old", ImageTag="v1", Environment="test")
    cfn.stack("UPDATE_COMPLETE", Parameters=existing)
    cfn.create_change_set(
        parameters=[
            {"ParameterKey": "DatabaseTemplateUrl", "ParameterValue": database_url(templates)},
            {"ParameterKey": "Environment", "ParameterValue": "test"},
            {"ParameterKey": "ImageRepositoryName", "ParameterValue": "orca-next"},
            {"ParameterKey": "ImageTag", "ParameterValue": "v2"},
        ]
    )
    cfn.change_set([], status="FAILED", reason=NO_CHANGES)
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes", "--image-repository", "orca-next")

    assert result.code == 0, result.err


def test_a_create_sends_only_what_it_sets_and_never_use_previous_value(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    cfn.stack(None)
    cfn.create_change_set(
        "CREATE",
        parameters=[
            {"ParameterKey": "CertificateArn", "ParameterValue": CERTIFICATE},
            {"ParameterKey": "DatabaseTemplateUrl", "ParameterValue": database_url(templates)},
            {"ParameterKey": "Environment", "ParameterValue": "test"},
            {"ParameterKey": "ImageTag", "ParameterValue": "v2"},
        ],
    )
    cfn.change_set([resource_change("Releases", "AWS::SNS::Topic", action="Add")])
    cfn.delete_change_set()
    cfn.stack("REVIEW_IN_PROGRESS", name=STACK_ID)
    cfn.delete_stack(STACK_ID)

    result = deploy(cfn, templates, "--no-execute", "--certificate-arn", CERTIFICATE)

    assert result.code == 0, result.err


def test_policies_are_restored_when_executing_fails_after_they_were_lifted(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    database_replacement(cfn)
    cfn.tree()
    cfn.set_policies()  # lifted
    cfn.events(STACK_ID, [event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID)])
    cfn.error("execute_change_set", "Throttling", "Rate exceeded")
    cfn.tree()
    cfn.protective_policies()  # restored
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes", "--allow-replacement")

    assert result.code == 1
    assert "Stack policies set: stateful resources cannot be replaced or deleted by an update." in result.out
    assert result.err == "orca-deploy: AWS kept throttling ExecuteChangeSet after retries (Throttling): Rate exceeded\n"


def test_policies_are_restored_when_following_the_execution_is_interrupted(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    class InterruptedWhileFollowing(Recorder):
        def _sleep(self, seconds: float) -> None:
            super()._sleep(seconds)
            if len(self.sleeps) == 2:  # the first sleep waits for the change set, the second follows the stack
                raise KeyboardInterrupt

    database_replacement(cfn)
    cfn.tree()
    cfn.set_policies()  # lifted
    cfn.events(STACK_ID, [event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID)])
    cfn.execute()
    cfn.stack("UPDATE_IN_PROGRESS", name=STACK_ID)
    cfn.events(STACK_ID, [event(1, STACK, STACK_TYPE, "UPDATE_IN_PROGRESS", PhysicalResourceId=STACK_ID)])
    cfn.tree()
    cfn.protective_policies()  # restored
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes", "--allow-replacement", recorder=InterruptedWhileFollowing())

    assert result.code == 130
    assert result.err == "orca-deploy: interrupted\n"


def test_a_failed_restore_of_the_policies_is_one_line_and_the_run_fails(
    cfn: StubbedCloudFormation, templates: Path
) -> None:
    database_replacement(cfn)
    cfn.tree()
    cfn.set_policies()  # lifted
    cfn.events(STACK_ID, [event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE", PhysicalResourceId=STACK_ID)])
    cfn.error("execute_change_set", "ValidationError", "Stack is busy")
    cfn.error("describe_stack_resources", "Throttling", "Rate exceeded")
    cfn.delete_change_set()

    result = deploy(cfn, templates, "--yes", "--allow-replacement")

    assert result.code == 1
    assert result.err.splitlines() == [
        "warning: could not restore the stack policies; the database stays unprotected: An error occurred "
        "(Throttling) when calling the DescribeStackResources operation: Rate exceeded",
        "orca-deploy: ExecuteChangeSet failed (ValidationError): Stack is busy",
    ]
