"""Stack policies that keep the database, and termination protection for production.

A stack policy names only resources of its own stack, so every stack of the tree gets one: it denies
``Update:Replace`` and ``Update:Delete`` on stateful resource types (the RDS instance lives in the nested
database stack) and, in a parent, on each nested stack resource that holds a stateful resource, so removing
the whole database stack from the root is denied too. ``--allow-replacement`` lifts the policies for one
execution and puts them back afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scripts.deployer.review import NESTED_STACK_TYPE, STATEFUL_TYPES, stateful_resources
from scripts.deployer.runtime import Runtime

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

PROTECTED_ENVIRONMENTS = frozenset({"prod"})
_ALLOW_ALL: dict[str, Any] = {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}
_DESTRUCTIVE = ["Update:Replace", "Update:Delete"]


@dataclass(frozen=True)
class StackNode:
    """A stack of the tree and the logical IDs of its nested stacks that hold stateful resources."""

    stack_id: str
    guarded_nested: tuple[str, ...]


def stack_tree(cfn: CloudFormationClient, stack_id: str) -> list[StackNode]:
    """The stack and all stacks nested in it, depth first."""
    nodes: list[StackNode] = []
    children: list[str] = []
    guarded: list[str] = []
    for resource in cfn.describe_stack_resources(StackName=stack_id)["StackResources"]:
        physical = resource.get("PhysicalResourceId")
        if resource["ResourceType"] == NESTED_STACK_TYPE and physical:
            children.append(physical)
            if stateful_resources(cfn, physical):
                guarded.append(resource["LogicalResourceId"])
    nodes.append(StackNode(stack_id, tuple(guarded)))
    for child in children:
        nodes.extend(stack_tree(cfn, child))
    return nodes


def protective_policy(guarded_nested: tuple[str, ...]) -> str:
    """The stack policy for one stack: allow updates, deny replacing or deleting what holds data."""
    statements: list[dict[str, Any]] = [
        _ALLOW_ALL,
        {
            "Effect": "Deny",
            "Action": _DESTRUCTIVE,
            "Principal": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"ResourceType": sorted(STATEFUL_TYPES)}},
        },
    ]
    if guarded_nested:
        statements.append(
            {
                "Effect": "Deny",
                "Action": _DESTRUCTIVE,
                "Principal": "*",
                "Resource": [f"LogicalResourceId/{logical}" for logical in guarded_nested],
            }
        )
    return json.dumps({"Statement": statements}, sort_keys=True)


def protect(cfn: CloudFormationClient, stack_id: str, *, env: str, runtime: Runtime) -> None:
    """Set the protective policy on every stack of the tree; enable termination protection in prod."""
    for node in stack_tree(cfn, stack_id):
        cfn.set_stack_policy(StackName=node.stack_id, StackPolicyBody=protective_policy(node.guarded_nested))
    if env in PROTECTED_ENVIRONMENTS:
        # Nested stacks inherit the root's termination protection.
        cfn.update_termination_protection(StackName=stack_id, EnableTerminationProtection=True)
    runtime.say("Stack policies set: stateful resources cannot be replaced or deleted by an update.")


def lift(cfn: CloudFormationClient, stack_id: str, runtime: Runtime) -> None:
    """Allow every update on every stack of the tree, for one execution with ``--allow-replacement``."""
    body = json.dumps({"Statement": [_ALLOW_ALL]}, sort_keys=True)
    for node in stack_tree(cfn, stack_id):
        cfn.set_stack_policy(StackName=node.stack_id, StackPolicyBody=body)
    runtime.say("Stack policies lifted for this execution (--allow-replacement).")
