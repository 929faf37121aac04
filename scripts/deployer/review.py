"""The review of a change set: one row per resource change, nested stacks included, and the stateful guard.

A removal or a replacement (``True`` or ``Conditional``) stands out; one that hits a stateful resource, or a
nested stack holding one, is *guarded*: the deploy refuses it unless ``--allow-replacement``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from scripts.deployer.aws import error_code

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import ResourceChangeTypeDef

STATEFUL_TYPES = frozenset(
    {
        "AWS::RDS::DBInstance",
        "AWS::SecretsManager::Secret",
        "AWS::RDS::DBSubnetGroup",
        "AWS::ECR::Repository",
        "AWS::Logs::LogGroup",
    }
)
NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"
REPLACING = frozenset({"True", "Conditional"})
COLUMNS = ("", "Action", "Stack", "Logical ID", "Type", "Replacement", "Scope")


@dataclass(frozen=True)
class Change:
    """One resource change, flattened from a (possibly nested) change set."""

    stack: str
    action: str
    logical_id: str
    resource_type: str
    replacement: str = ""
    scope: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    physical_id: str = ""

    @property
    def destructive(self) -> bool:
        """A removal, or a replacement that is certain or possible."""
        return self.action == "Remove" or self.replacement in REPLACING

    @property
    def replacement_text(self) -> str:
        """The replacement column: the value and the properties that force it."""
        if self.causes and self.replacement in REPLACING:
            return f"{self.replacement} ({', '.join(self.causes)})"
        return self.replacement or "-"


@dataclass(frozen=True)
class Review:
    """Every change of a change set and the guarded ones among them."""

    stack_name: str
    change_set_type: str
    changes: tuple[Change, ...]
    guarded: tuple[Change, ...]

    @property
    def removals(self) -> int:
        """How many resources would be removed."""
        return sum(c.action == "Remove" for c in self.changes)

    @property
    def replacements(self) -> int:
        """How many resources would (or might) be replaced."""
        return sum(c.replacement in REPLACING for c in self.changes)


def change_from_resource(stack_label: str, resource: ResourceChangeTypeDef) -> Change:
    """A review row from a ``ResourceChange`` of DescribeChangeSet."""
    causes: list[str] = []
    for detail in resource.get("Details", []):
        target = detail.get("Target", {})
        if target.get("RequiresRecreation") in ("Always", "Conditionally"):
            name = target.get("Name") or target.get("Attribute", "")
            if name and name not in causes:
                causes.append(name)
    return Change(
        stack=stack_label,
        action=resource.get("Action", "?"),
        logical_id=resource.get("LogicalResourceId", "?"),
        resource_type=resource.get("ResourceType", "?"),
        replacement=resource.get("Replacement", ""),
        scope=tuple(resource.get("Scope", [])),
        causes=tuple(causes),
        physical_id=resource.get("PhysicalResourceId", ""),
    )


def stateful_resources(cfn: CloudFormationClient, stack: str) -> list[str]:
    """Logical IDs of the stateful resources in ``stack`` and the stacks nested in it."""
    try:
        resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    except ClientError as e:
        if error_code(e) == "ValidationError":
            return []
        raise
    found: list[str] = []
    for resource in resources:
        if resource["ResourceType"] in STATEFUL_TYPES:
            found.append(resource["LogicalResourceId"])
        elif resource["ResourceType"] == NESTED_STACK_TYPE and resource.get("PhysicalResourceId"):
            found.extend(stateful_resources(cfn, resource["PhysicalResourceId"]))
    return found


def _is_guarded(cfn: CloudFormationClient, change: Change) -> bool:
    if not change.destructive:
        return False
    if change.resource_type in STATEFUL_TYPES:
        return True
    if change.resource_type == NESTED_STACK_TYPE:
        # Without a physical ID there is nothing to inspect: assume the worst.
        return not change.physical_id or bool(stateful_resources(cfn, change.physical_id))
    return False


def build_review(
    cfn: CloudFormationClient, *, stack_name: str, change_set_type: str, changes: Iterable[Change]
) -> Review:
    """Collect the changes and pick out the guarded ones."""
    rows = tuple(changes)
    return Review(
        stack_name=stack_name,
        change_set_type=change_set_type,
        changes=rows,
        guarded=tuple(c for c in rows if _is_guarded(cfn, c)),
    )


def _marker(change: Change, review: Review) -> str:
    if change in review.guarded:
        return "!!"
    return "!" if change.destructive else ""


def _cells(change: Change, review: Review) -> tuple[str, ...]:
    action = change.action.upper() if change.destructive else change.action
    return (
        _marker(change, review),
        action,
        change.stack,
        change.logical_id,
        change.resource_type,
        change.replacement_text,
        ", ".join(change.scope) or "-",
    )


def summary_line(review: Review) -> str:
    """One sentence: how many changes, removals and replacements."""
    if not review.changes:
        return "No changes."
    return (
        f"{len(review.changes)} change(s): {review.removals} removal(s), "
        f"{review.replacements} replacement(s), {len(review.guarded)} touching stateful resources."
    )


def format_table(review: Review) -> str:
    """The review as an aligned plain-text table with a legend, for the terminal and CI logs."""
    header = f"Change set for stack {review.stack_name} ({review.change_set_type})"
    if not review.changes:
        return f"{header}: no changes."
    rows = [COLUMNS, *(_cells(c, review) for c in review.changes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [header]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    lines.append(summary_line(review))
    lines.append("!  removal or replacement;  !! of a stateful resource (refused without --allow-replacement)")
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("|", "\\|") or " "


def format_markdown(review: Review, outcome: str) -> str:
    """The review as Markdown for a pull request comment, ending with what the run did (``outcome``)."""
    lines = [f"### orca-deploy: `{review.stack_name}` ({review.change_set_type})", ""]
    if not review.changes:
        lines.append("No changes: nothing would change.")
    else:
        lines.append("| " + " | ".join(COLUMNS[1:]) + " |")
        lines.append("|" + "---|" * (len(COLUMNS) - 1))
        for change in review.changes:
            cells = list(_cells(change, review)[1:])
            if change.destructive:
                flag = ":no_entry:" if change in review.guarded else ":warning:"
                cells[0] = f"{flag} **{cells[0]}**"
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        lines.append("")
        lines.append(summary_line(review))
    lines.extend(["", f"**{outcome}**", ""])
    return "\n".join(lines)
