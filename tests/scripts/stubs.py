"""A CloudFormation client under ``botocore.stub.Stubber``, with the responses moto cannot produce.

Each method queues one expected call; Stubber checks the request against the real service model and the
response shapes too, and ``assert_no_pending_responses`` proves every queued call (a change set's deletion
included) was made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from scripts.deployer.protection import protective_policy
from tests.scripts.conftest import REGION, STACK

ACCOUNT = "123456789012"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/11111111-aaaa"
NESTED_NAME = f"{STACK}-DatabaseStack-ABC123"
NESTED_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{NESTED_NAME}/22222222-bbbb"
CHANGE_SET_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/orca-deploy-1/33333333-cccc"
NESTED_CHANGE_SET_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/nested-1/44444444-dddd"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


def resource_change(
    logical_id: str,
    resource_type: str,
    *,
    action: str = "Modify",
    replacement: str | None = None,
    physical_id: str | None = None,
    nested_change_set: str | None = None,
    recreate: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One ``Changes`` entry as DescribeChangeSet returns it."""
    change: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
    }
    if action == "Modify":
        change["Replacement"] = replacement or "False"
        change["Scope"] = ["Properties"]
        change["Details"] = [
            {
                "Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": "Always"},
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            }
            for name in recreate
        ]
    if physical_id:
        change["PhysicalResourceId"] = physical_id
    if nested_change_set:
        change["ChangeSetId"] = nested_change_set
    return {"Type": "Resource", "ResourceChange": change}


def event(
    number: int, logical_id: str, resource_type: str, status: str, *, stack_id: str = STACK_ID, **extra: str
) -> dict[str, Any]:
    """A stack event ``number`` seconds after T0."""
    stack_name = STACK if stack_id == STACK_ID else NESTED_NAME
    found: dict[str, Any] = {
        "StackId": stack_id,
        "EventId": f"{stack_name}-{number}",
        "StackName": stack_name,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "Timestamp": T0 + timedelta(seconds=number),
        "ResourceStatus": status,
    }
    found.update(extra)
    return found


class StubbedCloudFormation:
    """A stubbed client and the calls the deploy tool is expected to make, in order."""

    def __init__(self) -> None:
        self.client = boto3.client("cloudformation", region_name=REGION)
        self.stubber = Stubber(self.client)

    def __enter__(self) -> StubbedCloudFormation:
        self.stubber.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stubber.deactivate()

    def clients(self, region: str) -> tuple[Any, Any]:
        """The factory ``main`` calls: this stubbed CloudFormation, moto's S3."""
        return self.client, boto3.client("s3", region_name=region)

    def stack(self, status: str | None, *, name: str = STACK, stack_id: str = STACK_ID, **extra: Any) -> None:
        if status is None:
            self.stubber.add_client_error(
                "describe_stacks", "ValidationError", f"Stack with id {name} does not exist", 400
            )
            return
        stack = {"StackName": STACK, "StackId": stack_id, "CreationTime": T0, "StackStatus": status, **extra}
        self.stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": name})

    def create_change_set(
        self, change_set_type: str = "UPDATE", stack_id: str = STACK_ID, *, parameters: Any = ANY
    ) -> None:
        self.stubber.add_response(
            "create_change_set",
            {"Id": CHANGE_SET_ID, "StackId": stack_id},
            {
                "StackName": STACK,
                "ChangeSetName": ANY,
                "ChangeSetType": change_set_type,
                "TemplateURL": ANY,
                "Parameters": parameters,
                "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
                "IncludeNestedStacks": True,
                "Tags": [{"Key": "Project", "Value": "orca"}, {"Key": "Environment", "Value": "test"}],
                "Description": "orca-deploy",
            },
        )

    def change_set(
        self,
        changes: list[dict[str, Any]],
        *,
        change_set_id: str = CHANGE_SET_ID,
        status: str = "CREATE_COMPLETE",
        reason: str | None = None,
        stack_id: str = STACK_ID,
    ) -> None:
        described: dict[str, Any] = {
            "ChangeSetId": change_set_id,
            "ChangeSetName": change_set_id.split("/")[1],
            "StackId": stack_id,
            "StackName": STACK,
            "Status": status,
            "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
            "Changes": changes,
        }
        if reason:
            described["StatusReason"] = reason
        self.stubber.add_response("describe_change_set", described, {"ChangeSetName": change_set_id})

    def resources(self, stack_id: str, resources: list[tuple[str, str, str | None]]) -> None:
        listed = []
        for logical_id, resource_type, physical_id in resources:
            resource: dict[str, Any] = {
                "LogicalResourceId": logical_id,
                "ResourceType": resource_type,
                "Timestamp": T0,
                "ResourceStatus": "UPDATE_COMPLETE",
            }
            if physical_id:
                resource["PhysicalResourceId"] = physical_id
            listed.append(resource)
        self.stubber.add_response("describe_stack_resources", {"StackResources": listed}, {"StackName": stack_id})

    def tree(self) -> None:
        """The calls that walk the root and its nested database stack (policies, stateful checks)."""
        nested = [
            ("Database", "AWS::RDS::DBInstance", "orca-db"),
            ("DatabaseLogs", "AWS::Logs::LogGroup", "lg"),
        ]
        self.resources(STACK_ID, [("DatabaseStack", "AWS::CloudFormation::Stack", NESTED_ID)])
        self.resources(NESTED_ID, nested)
        self.resources(NESTED_ID, nested)

    def set_policies(self) -> None:
        for stack_id in (STACK_ID, NESTED_ID):
            self.stubber.add_response("set_stack_policy", {}, {"StackName": stack_id, "StackPolicyBody": ANY})

    def protective_policies(self) -> None:
        """The policies ``protect`` sets, exactly: the root's also names its nested database stack."""
        for stack_id, guarded in ((STACK_ID, ("DatabaseStack",)), (NESTED_ID, ())):
            self.stubber.add_response(
                "set_stack_policy", {}, {"StackName": stack_id, "StackPolicyBody": protective_policy(guarded)}
            )

    def events(self, stack_id: str, events: list[dict[str, Any]]) -> None:
        newest_first = sorted(events, key=lambda e: e["Timestamp"], reverse=True)
        self.stubber.add_response("describe_stack_events", {"StackEvents": newest_first}, {"StackName": stack_id})

    def execute(self) -> None:
        self.stubber.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET_ID})

    def delete_change_set(self) -> None:
        self.stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ID})

    def delete_stack(self, stack_id: str) -> None:
        self.stubber.add_response("delete_stack", {}, {"StackName": stack_id})

    def error(self, method: str, code: str, message: str) -> None:
        self.stubber.add_client_error(method, code, message, 400)
