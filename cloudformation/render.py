"""Render an environment's templates: the children, the root, and their JSON text."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from troposphere import Template

from cloudformation import alarms, autoscaling, common, database, network, root, service
from cloudformation.environments import Environment

_BUILDERS: dict[str, Callable[[Environment], Template]] = {
    "NetworkStack": network.build_template,
    "DatabaseStack": database.build_template,
    "ServiceStack": service.build_template,
    "AutoscalingStack": autoscaling.build_template,
    "AlarmsStack": alarms.build_template,
}


def build_children(env: Environment) -> dict[str, Template]:
    """Build every child stack of ``env``: logical id in the root -> template."""
    return {stack: _BUILDERS[stack](env) for stack in common.CHILD_STACKS}


def to_json(template: Template) -> str:
    """Serialise deterministically: sorted keys, two-space indent, trailing newline."""
    return json.dumps(template.to_dict(), indent=2, sort_keys=True) + "\n"


def render(env: Environment, *, local_template_urls: bool = False) -> dict[str, str]:
    """Render ``env``: file name -> JSON text, the root plus one file per child.

    With ``local_template_urls`` the root points at the children by relative path instead of taking their URLs
    as parameters, which is what cfn-lint needs to check the parameters the root passes to them.
    """
    children = build_children(env)
    urls: Mapping[str, str] | None = None
    if local_template_urls:
        urls = dict(common.CHILD_STACKS)
    files = {common.CHILD_STACKS[stack]: to_json(t) for stack, t in children.items()}
    files[common.ROOT_TEMPLATE] = to_json(root.build_template(env, children, template_urls=urls))
    return dict(sorted(files.items()))


def write(files: Mapping[str, str], out: Path) -> list[Path]:
    """Write rendered files into ``out`` (created if missing); return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
