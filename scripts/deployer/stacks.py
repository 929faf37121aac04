"""The root stack's state before a deploy: does it exist, can it be updated, is there a leftover to clear."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from scripts.deployer.aws import error_code
from scripts.deployer.errors import DeployFailed, Refused
from scripts.deployer.runtime import Runtime

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import StackTypeDef

ChangeSetType = Literal["CREATE", "UPDATE"]

# Left by a create that never ran (REVIEW_IN_PROGRESS) or that rolled back (ROLLBACK_COMPLETE): empty, and
# CloudFormation accepts neither an update nor a new create with the same name until it is deleted.
LEFTOVER_STATES = frozenset({"REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"})
UPDATABLE_STATES = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)


def describe_stack(cfn: CloudFormationClient, name: str) -> StackTypeDef | None:
    """The stack called (or with the ARN) ``name``, or None when there is none."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as e:
        if error_code(e) == "ValidationError" and "does not exist" in str(e):
            return None
        raise
    return stacks[0] if stacks else None


def _deleted(cfn: CloudFormationClient, stack_id: str) -> bool | None:
    stack = describe_stack(cfn, stack_id)
    if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
        return True
    if stack["StackStatus"] == "DELETE_FAILED":
        raise DeployFailed(f"deleting stack {stack_id} failed: {stack.get('StackStatusReason', 'no reason')}")
    return None


def delete_stack(cfn: CloudFormationClient, stack_id: str, runtime: Runtime) -> None:
    """Delete a stack and wait until it is gone.

    Raises:
        DeployFailed: the deletion failed or timed out.
    """
    cfn.delete_stack(StackName=stack_id)
    runtime.poll(lambda: _deleted(cfn, stack_id), f"stack {stack_id} to be deleted")


@dataclass(frozen=True)
class PreparedStack:
    """What the change set will be: a CREATE, or an UPDATE of a stack that has these parameter keys."""

    change_set_type: ChangeSetType
    parameter_keys: frozenset[str] | None = None


def prepare_stack(cfn: CloudFormationClient, name: str, runtime: Runtime) -> PreparedStack:
    """Decide between a CREATE and an UPDATE change set, deleting an empty leftover stack first.

    For an UPDATE, also report which parameters the stack has (their values can be kept with
    ``UsePreviousValue``).

    Raises:
        Refused: the stack is busy (``*_IN_PROGRESS``) or in a state that needs a person (e.g.
            ``UPDATE_ROLLBACK_FAILED``).
    """
    stack = describe_stack(cfn, name)
    if stack is None:
        return PreparedStack("CREATE")
    status = stack["StackStatus"]
    if status in LEFTOVER_STATES:
        runtime.say(f"Stack {name} is {status}, left by an earlier failed create: deleting it first.")
        delete_stack(cfn, stack["StackId"], runtime)
        return PreparedStack("CREATE")
    if status.endswith("_IN_PROGRESS"):
        raise Refused(f"stack {name} is {status}: another operation is running, try again when it ends")
    if status not in UPDATABLE_STATES:
        raise Refused(f"stack {name} is {status}: it needs manual attention before it can be deployed")
    keys = frozenset(p["ParameterKey"] for p in stack.get("Parameters", []) if "ParameterKey" in p)
    return PreparedStack("UPDATE", keys)
