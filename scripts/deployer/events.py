"""Following a running deploy: stack events of the root and every nested stack, until a terminal state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from scripts.deployer.runtime import Runtime
from scripts.deployer.stacks import describe_stack

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import StackEventTypeDef

NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"
SUCCESS_STATES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
SERVICE_URL_OUTPUT = "serviceurl"  # compared case-insensitively: ServiceUrl or ServiceURL
FIRST_FAILURES = 3
# Failures that only echo another one: cancelled siblings and the parent of a failed nested stack.
_ECHOES = ("cancelled", "Embedded stack", "The following resource(s) failed")

ROLLBACK_OUTCOMES = {
    "ROLLBACK_COMPLETE": "the create rolled back; the next run deletes the empty stack",
    "UPDATE_ROLLBACK_COMPLETE": "the update rolled back; the stack is as it was before",
    "ROLLBACK_FAILED": "the rollback FAILED; the stack needs manual attention",
    "UPDATE_ROLLBACK_FAILED": "the rollback FAILED; continue it (ContinueUpdateRollback) before deploying",
    "CREATE_FAILED": "the create failed without rolling back",
    "UPDATE_FAILED": "the update failed without rolling back",
}


@dataclass
class Outcome:
    """How an execution ended."""

    status: str
    failures: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """Whether the root stack reached a complete state without rolling back."""
        return self.status in SUCCESS_STATES

    @property
    def rollback(self) -> str:
        """What the rollback did, in words."""
        return ROLLBACK_OUTCOMES.get(self.status, f"the stack ended in {self.status}")


def latest_event_time(cfn: CloudFormationClient, stack_id: str) -> datetime | None:
    """The newest event's time; events at or before it belong to earlier operations."""
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    return max((e["Timestamp"] for e in events), default=None)


@dataclass
class _Follower:
    cfn: CloudFormationClient
    runtime: Runtime
    since: datetime | None
    total: int
    stacks: dict[str, str] = field(default_factory=dict)  # stack id -> label
    seen: set[str] = field(default_factory=set)
    done: set[tuple[str, str]] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    started: float = 0.0

    def _new_events(self, stack_id: str) -> list[StackEventTypeDef]:
        fresh: list[StackEventTypeDef] = []
        token: str | None = None
        while True:
            page = (
                self.cfn.describe_stack_events(StackName=stack_id, NextToken=token)
                if token
                else self.cfn.describe_stack_events(StackName=stack_id)
            )
            # Newest first: stop at the first event already shown or from an earlier operation.
            for event in page["StackEvents"]:
                if event["EventId"] in self.seen or (self.since and event["Timestamp"] <= self.since):
                    return fresh[::-1]
                fresh.append(event)
            token = page.get("NextToken")
            if not token:
                return fresh[::-1]

    def _register_nested(self, label: str, event: StackEventTypeDef) -> None:
        physical = event.get("PhysicalResourceId", "")
        # A stack's own events name it as their resource; only other stacks are nested ones.
        if event.get("ResourceType") == NESTED_STACK_TYPE and physical and physical != event.get("StackId"):
            self.stacks.setdefault(physical, f"{label}/{event.get('LogicalResourceId', '')}")

    def _show(self, label: str, event: StackEventTypeDef) -> None:
        self.seen.add(event["EventId"])
        status = event.get("ResourceStatus", "")
        logical = event.get("LogicalResourceId", "")
        reason = event.get("ResourceStatusReason", "")
        if event.get("PhysicalResourceId") != event.get("StackId") and status.endswith(("_COMPLETE", "_FAILED")):
            self.done.add((label, logical))
        if status.endswith("_FAILED") and reason:
            self.failures.append(f"{label}/{logical}: {reason}")
        elapsed = self.runtime.clock() - self.started
        progress = f"[{min(len(self.done), self.total)}/{self.total}]"
        line = f"{elapsed:6.0f}s {progress} {label} {logical} {event.get('ResourceType', '')} {status}"
        self.runtime.say(f"{line} {reason}".rstrip())

    def sweep(self) -> None:
        """Show every stack's new events in time order, following nested stacks as they appear."""
        found: list[tuple[str, StackEventTypeDef]] = []
        swept: set[str] = set()
        while pending := [(i, label) for i, label in self.stacks.items() if i not in swept]:
            for stack_id, label in pending:
                swept.add(stack_id)
                for event in self._new_events(stack_id):
                    self._register_nested(label, event)
                    found.append((label, event))
        for label, event in sorted(found, key=lambda item: item[1]["Timestamp"]):
            self._show(label, event)

    def first_failures(self) -> list[str]:
        primary = [f for f in self.failures if not any(echo in f for echo in _ECHOES)]
        return (primary or self.failures)[:FIRST_FAILURES]


def follow_stack(
    cfn: CloudFormationClient,
    stack_id: str,
    *,
    label: str,
    since: datetime | None,
    total: int,
    runtime: Runtime,
) -> Outcome:
    """Print new events of the stack and its nested stacks until the root leaves ``*_IN_PROGRESS``.

    Nested stacks are discovered from ``AWS::CloudFormation::Stack`` events and their physical IDs.
    """
    follower = _Follower(cfn, runtime, since, max(total, 1), stacks={stack_id: label}, started=runtime.clock())

    def terminal_status() -> str | None:
        # Status first, events second: the last sweep then covers everything up to the terminal state.
        stack = describe_stack(cfn, stack_id)
        status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
        follower.sweep()
        return None if status.endswith("_IN_PROGRESS") else status

    status = runtime.poll(terminal_status, f"stack {label} to finish")
    return Outcome(status=status, failures=follower.first_failures())


def stack_outputs(cfn: CloudFormationClient, stack_id: str) -> list[tuple[str, str]]:
    """The root stack's outputs as (key, value), the service URL first."""
    stack = describe_stack(cfn, stack_id)
    if stack is None:
        return []
    outputs = [(o.get("OutputKey", ""), o.get("OutputValue", "")) for o in stack.get("Outputs", [])]
    return sorted(outputs, key=lambda kv: (kv[0].lower() != SERVICE_URL_OUTPUT, kv[0]))
