"""Root stack: nested stacks wired child-to-sibling, URLs as parameters, and every template passes cfn-lint
(the root with local paths, so the parameters it passes to each child are checked too)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cloudformation import common, environments, render, root
from tests.cloudformation.helpers import Template, resources_of

Rendered = dict[str, dict[str, Template]]
REPO = Path(__file__).resolve().parents[2]


def _stacks(rendered: Rendered, env_name: str) -> dict[str, dict[str, object]]:
    return resources_of(rendered[env_name]["root.json"], "AWS::CloudFormation::Stack")


def test_root_nests_the_five_children(rendered: Rendered, env_name: str) -> None:
    assert sorted(_stacks(rendered, env_name)) == sorted(common.CHILD_STACKS)


def test_no_nested_stack_carries_a_stack_name(rendered: Rendered, env_name: str) -> None:
    for stack in _stacks(rendered, env_name).values():
        assert "StackName" not in stack["Properties"]  # type: ignore[operator]


def test_template_urls_are_root_parameters(rendered: Rendered, env_name: str) -> None:
    template = rendered[env_name]["root.json"]
    for logical_id, stack in _stacks(rendered, env_name).items():
        parameter = common.template_url_parameter(logical_id)
        assert stack["Properties"]["TemplateURL"] == {"Ref": parameter}  # type: ignore[index]
        assert parameter in template["Parameters"]


def test_child_outputs_feed_sibling_parameters(rendered: Rendered, env_name: str) -> None:
    stacks = _stacks(rendered, env_name)
    service = stacks["ServiceStack"]["Properties"]["Parameters"]  # type: ignore[index]
    assert service["DatabaseSecretArn"] == {"Fn::GetAtt": ["DatabaseStack", "Outputs.DatabaseSecretArn"]}
    assert service["PrivateSubnetIds"] == {"Fn::GetAtt": ["NetworkStack", "Outputs.PrivateSubnetIds"]}
    assert service["ImageTag"] == {"Ref": "ImageTag"}
    scaling = stacks["AutoscalingStack"]["Properties"]["Parameters"]  # type: ignore[index]
    assert scaling["TargetGroupFullName"] == {"Fn::GetAtt": ["ServiceStack", "Outputs.TargetGroupFullName"]}


def test_every_child_parameter_is_passed(rendered: Rendered, env_name: str) -> None:
    for logical_id, stack in _stacks(rendered, env_name).items():
        child = rendered[env_name][common.CHILD_STACKS[logical_id]]
        passed = stack["Properties"].get("Parameters", {})  # type: ignore[attr-defined]
        assert sorted(passed) == sorted(child.get("Parameters", {}))


def test_image_tag_is_a_deploy_time_parameter_without_default(rendered: Rendered, env_name: str) -> None:
    parameter = rendered[env_name]["root.json"]["Parameters"]["ImageTag"]
    assert "Default" not in parameter


def test_root_outputs_url_names_endpoint_secret_and_topic(rendered: Rendered, env_name: str) -> None:
    assert sorted(rendered[env_name]["root.json"]["Outputs"]) == [
        "AlarmTopicArn",
        "ClusterName",
        "DatabaseEndpoint",
        "DatabaseSecretArn",
        "ServiceName",
        "ServiceUrl",
    ]


def test_a_child_parameter_nobody_provides_stops_the_build() -> None:
    env = environments.get("test")
    children = render.build_children(env)
    children["AlarmsStack"].add_parameter(__import__("troposphere").Parameter("Orphan", Type="String"))
    with pytest.raises(root.UnwiredParameter, match="parameter Orphan of AlarmsStack"):
        root.build_template(env, children)


def test_no_template_hard_codes_a_region_or_an_account(rendered: Rendered, env_name: str) -> None:
    for name, template in rendered[env_name].items():
        text = json.dumps(template)
        assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-[a-z]+-\d\b", text), name
        assert not re.search(r"(?<![\\\d])\d{12}(?!\d)", text), name
        assert "amazonaws.com/" not in text, name


def _cfn_lint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def local_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each environment rendered with the root pointing at its children by relative path."""
    dirs = {}
    for name, env in environments.ENVIRONMENTS.items():
        out = tmp_path_factory.mktemp(name)
        render.write(render.render(env, local_template_urls=True), out)
        dirs[name] = out
    return dirs


@pytest.mark.slow
def test_cfn_lint_passes_every_template_with_the_root_on_local_paths(local_templates: dict[str, Path]) -> None:
    paths = sorted(p for d in local_templates.values() for p in d.glob("*.json"))
    paths += sorted((REPO / "cloudformation" / "templates").glob("*/*.json"))
    result = _cfn_lint(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_cfn_lint_checks_the_parameters_the_root_passes(local_templates: dict[str, Path], tmp_path: Path) -> None:
    """The local-path lint is not vacuous: a parameter missing from a nested stack is an error."""
    for child in local_templates["test"].glob("*.json"):
        (tmp_path / child.name).write_text(child.read_text())
    root_file = tmp_path / common.ROOT_TEMPLATE
    template = json.loads(root_file.read_text())
    del template["Resources"]["DatabaseStack"]["Properties"]["Parameters"]["DatabaseSecurityGroupId"]
    root_file.write_text(json.dumps(template))
    result = _cfn_lint([root_file])
    assert "E3043" in result.stdout
