"""Helpers to read parsed templates in assertions."""

from __future__ import annotations

from typing import Any

Template = dict[str, Any]


def resources_of(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """The resources of one type: logical id -> resource."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def only(template: Template, resource_type: str) -> dict[str, Any]:
    """The properties of the single resource of a type."""
    found = resources_of(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return dict(next(iter(found.values())).get("Properties", {}))
