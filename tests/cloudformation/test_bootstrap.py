"""Bootstrap stack: OIDC trust pinned to the repository, least-privilege deploy role, bucket and repository."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cloudformation import bootstrap, render
from scripts import deployer
from tests.cloudformation.helpers import Template, only


@pytest.fixture(scope="module")
def template() -> Template:
    """The rendered bootstrap template, parsed."""
    parsed: Template = json.loads(render.to_json(bootstrap.build_template()))
    return parsed


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_creates_githubs_oidc_provider_unless_one_exists(template: Template) -> None:
    provider = template["Resources"]["GitHubOidcProvider"]
    assert provider["Condition"] == "CreateOidcProvider"
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]


GITHUB_ROLES = ("PullRequestRole", "ImageRole", "TestDeployRole", "ProdDeployRole")
EXECUTION_ROLES = ("TestExecutionRole", "ProdExecutionRole")


def _subjects(role: dict[str, Any]) -> list[str]:
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert set(statement["Condition"]) == {"StringEquals"}
    condition = statement["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    subject = condition["token.actions.githubusercontent.com:sub"]
    return [s["Fn::Sub"] for s in (subject if isinstance(subject, list) else [subject])]


def _allowed(role: dict[str, Any]) -> set[str]:
    return {a for s in _statements(role) if s["Effect"] == "Allow" for a in s["Action"]}


def _resources(statement: dict[str, Any]) -> list[str]:
    """The statement's resources as strings: a ``Fn::Sub`` by its pattern, a ``Fn::Join`` flattened."""

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Fn::Sub" in value:
            return str(value["Fn::Sub"])
        if "Fn::Join" in value:
            return "".join(text(v) for v in value["Fn::Join"][1])
        return json.dumps(value)

    return [text(r) for r in statement["Resource"]]


def test_each_github_role_trusts_one_kind_of_job_of_this_repository(template: Template) -> None:
    resources = template["Resources"]
    assert "DeployRole" not in resources
    assert {name: _subjects(resources[name]) for name in GITHUB_ROLES} == {
        "PullRequestRole": ["repo:${Repository}:pull_request"],
        "ImageRole": ["repo:${Repository}:ref:refs/heads/main"],
        "TestDeployRole": ["repo:${Repository}:environment:test"],
        "ProdDeployRole": ["repo:${Repository}:environment:prod"],
    }


def test_only_the_prod_environment_can_touch_the_prod_stack(template: Template) -> None:
    resources = template["Resources"]
    for name in GITHUB_ROLES:
        patterns = [r for s in _statements(resources[name]) for r in _resources(s)]
        touches_prod = any("-prod" in r for r in patterns)
        assert touches_prod == (name == "ProdDeployRole"), name
    assert _subjects(resources["ProdDeployRole"]) == ["repo:${Repository}:environment:prod"]


def test_pull_request_role_previews_test_and_changes_nothing(template: Template) -> None:
    role = template["Resources"]["PullRequestRole"]
    allowed = _allowed(role)
    assert {"cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "iam:PassRole"} <= allowed
    forbidden = {
        "cloudformation:ExecuteChangeSet",
        "cloudformation:SetStackPolicy",
        "cloudformation:DeleteStack",
        "cloudformation:UpdateTerminationProtection",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
    }
    assert allowed & forbidden == set()
    (drive,) = [s for s in _statements(role) if "cloudformation:CreateChangeSet" in s["Action"]]
    assert _resources(drive) == [
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${StackNamePrefix}-test/*",
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${StackNamePrefix}-test-*/*",
    ]
    (passes,) = [s for s in _statements(role) if s["Action"] == ["iam:PassRole"]]
    assert passes["Resource"] == [{"Fn::GetAtt": ["TestExecutionRole", "Arn"]}]


def test_image_role_only_pushes_images(template: Template) -> None:
    allowed = _allowed(template["Resources"]["ImageRole"])
    assert {a.split(":")[0] for a in allowed} == {"ecr"}
    assert "ecr:PutImage" in allowed


def test_github_roles_use_wildcards_only_where_aws_has_no_resource_level_permission(template: Template) -> None:
    for name in GITHUB_ROLES:
        statements = _statements(template["Resources"][name])
        wildcard = {a for s in statements if s["Resource"] == ["*"] for a in s["Action"]}
        assert wildcard <= {
            "cloudformation:GetTemplateSummary",
            "cloudformation:ValidateTemplate",
            "ecr:GetAuthorizationToken",
        }, name
        assert all("*" not in a for s in statements for a in s["Action"]), name


def test_deploy_roles_pass_only_their_environments_execution_role(template: Template) -> None:
    for env in ("Test", "Prod"):
        role = template["Resources"][f"{env}DeployRole"]
        (statement,) = [s for s in _statements(role) if s["Action"] == ["iam:PassRole"]]
        assert statement["Resource"] == [{"Fn::GetAtt": [f"{env}ExecutionRole", "Arn"]}]
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


def test_templates_of_one_environment_are_out_of_reach_of_the_others(template: Template) -> None:
    for name, env in (("TestDeployRole", "test"), ("ProdDeployRole", "prod")):
        (upload,) = [s for s in _statements(template["Resources"][name]) if "s3:PutObject" in s["Action"]]
        assert [r.split("}", 1)[1] for r in _resources(upload)] == [f"/${{StackNamePrefix}}-{env}/*"]


def test_execution_roles_allow_no_whole_service(template: Template) -> None:
    for name in EXECUTION_ROLES:
        allowed = _allowed(template["Resources"][name])
        assert not [a for a in allowed if a.endswith("*")], name
        assert "iam:CreateRole" in allowed
        assert "ec2:CreateVpc" in allowed


def test_execution_roles_create_roles_only_under_the_permissions_boundary(template: Template) -> None:
    boundary = template["Resources"]["StackRoleBoundary"]["Properties"]
    assert boundary["ManagedPolicyName"] == "orca-stack-role-boundary"
    boundary_arn = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/orca-stack-role-boundary"}
    for name in EXECUTION_ROLES:
        statements = _statements(template["Resources"][name])
        (bounded,) = [s for s in statements if s.get("Sid") == "BoundedStackRoles"]
        assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"} <= set(bounded["Action"])
        assert bounded["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": boundary_arn}}
        # No other statement grants a policy to a role.
        for s in statements:
            if s["Effect"] == "Allow" and s is not bounded:
                assert not {"iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:CreateRole"} & set(s["Action"])
        denied = {a for s in statements if s["Effect"] == "Deny" for a in s.get("Action", [])}
        assert "iam:DeleteRolePermissionsBoundary" in denied


def test_execution_roles_manage_their_nested_stacks_and_pass_only_themselves_on(template: Template) -> None:
    for name, env in (("TestExecutionRole", "test"), ("ProdExecutionRole", "prod")):
        statements = {s["Sid"]: s for s in _statements(template["Resources"][name])}
        nested = statements["NestedStacks"]
        assert {"cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack"} <= set(
            nested["Action"]
        )
        assert [r["Fn::Sub"].split(":stack/")[1] for r in nested["Resource"]] == [
            f"${{StackNamePrefix}}-{env}/*",
            f"${{StackNamePrefix}}-{env}-*/*",
        ]
        passed = statements["PassItselfToNestedStacks"]
        assert passed["Resource"][0]["Fn::Sub"].endswith(f":role/${{AWS::StackName}}-{name}-*")
        assert passed["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
        never = statements["NeverTheBootstrap"]
        assert never["Effect"] == "Deny"
        assert never["NotAction"] == ["iam:PassRole"]


def test_every_role_the_stacks_create_carries_the_permissions_boundary() -> None:
    from cloudformation import environments

    roles = [
        resource
        for env in environments.ENVIRONMENTS.values()
        for text in render.render(env).values()
        for resource in json.loads(text).get("Resources", {}).values()
        if resource["Type"] == "AWS::IAM::Role"
    ]
    assert len(roles) >= 6  # task, execution and database monitoring roles of both environments
    for role in roles:
        assert role["Properties"]["PermissionsBoundary"] == {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/orca-stack-role-boundary"
        }


def test_keys_and_databases_are_limited_to_the_environments_tags(template: Template) -> None:
    for env in ("test", "prod"):
        statements = {s["Sid"]: s for s in _statements(template["Resources"][f"{env.capitalize()}ExecutionRole"])}
        tags = {"Project": "orca", "Environment": env}
        assert statements["ManageTaggedKeys"]["Condition"] == {
            "StringEquals": {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        }
        for sid in ("CreateTaggedKeys", "CreateTaggedDatabases"):
            assert statements[sid]["Condition"] == {"StringEquals": {f"aws:RequestTag/{k}": v for k, v in tags.items()}}
        assert statements["StackServices"]["Condition"] == {
            "StringEqualsIfExists": {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        }
        kms_elsewhere = [
            s
            for s in statements.values()
            if s["Effect"] == "Allow" and any(a.startswith("kms:") for a in s["Action"]) and "Condition" not in s
        ]
        assert kms_elsewhere == []


def _matches(pattern: str, name: str) -> bool:
    """Whether an IAM ARN pattern (``*`` any run, ``?`` one character) matches ``name``."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, name) is not None


def test_no_allowed_stack_or_role_pattern_matches_the_bootstrap_itself(template: Template) -> None:
    # The README deploys the bootstrap as orca-bootstrap; CloudFormation names its roles after the stack.
    bootstrap_stack = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/orca-bootstrap/id"
    own_roles = [
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/orca-bootstrap-{name}-ABC123"
        for name in GITHUB_ROLES + EXECUTION_ROLES
    ]
    boundary = "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/orca-stack-role-boundary"
    checked = 0
    for name in GITHUB_ROLES + EXECUTION_ROLES:
        for statement in _statements(template["Resources"][name]):
            if statement["Effect"] != "Allow":
                continue
            for pattern in _resources(statement):
                pattern = pattern.replace("${StackNamePrefix}", "orca")
                if ":cloudformation:" in pattern or ":role/" in pattern or ":policy/" in pattern:
                    checked += 1
                    for arn in [bootstrap_stack, *own_roles, boundary]:
                        assert not _matches(pattern, arn), (name, pattern, arn)
    assert checked >= 10
    # And whatever the bootstrap stack is called, the execution roles may never act on it or its roles.
    for name in EXECUTION_ROLES:
        denied = [r for s in _statements(template["Resources"][name]) if s["Effect"] == "Deny" for r in _resources(s)]
        assert "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-*" in denied
        assert (
            "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*" in denied
        )


def test_outputs_name_every_role(template: Template) -> None:
    assert {
        "PullRequestRoleArn",
        "ImageRoleArn",
        "TestDeployRoleArn",
        "ProdDeployRoleArn",
        "TestExecutionRoleArn",
        "ProdExecutionRoleArn",
        "PermissionsBoundaryArn",
    } <= set(template["Outputs"])


def test_artefact_bucket_is_encrypted_versioned_and_private(template: Template) -> None:
    bucket = only(template, "AWS::S3::Bucket")
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4


def test_artefact_bucket_refuses_plain_http(template: Template) -> None:
    (statement,) = only(template, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_image_repository_scans_on_push_with_immutable_tags_and_a_lifecycle(template: Template) -> None:
    repository = only(template, "AWS::ECR::Repository")
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [r["action"]["type"] for r in rules] == ["expire", "expire"]


def _deploy_tool_actions() -> set[str]:
    """The IAM actions behind every CloudFormation and S3 call the deploy tool's source makes."""
    # HeadObject is authorised as GetObject; every other call's action is its operation's name.
    authorised_as = {"s3:HeadObject": "s3:GetObject"}
    actions = set()
    for source in Path(deployer.__file__).parent.glob("*.py"):
        for client, operation in re.findall(r"\b(cfn|s3)\.([a-z_]+)\(", source.read_text()):
            name = "".join(part.capitalize() for part in operation.split("_"))
            action = f"{'cloudformation' if client == 'cfn' else 's3'}:{name}"
            actions.add(authorised_as.get(action, action))
    return actions


@pytest.mark.parametrize("role", ["TestDeployRole", "ProdDeployRole"])
def test_deploy_role_allows_every_call_the_deploy_tool_makes(template: Template, role: str) -> None:
    allowed = _allowed(template["Resources"][role])
    needed = _deploy_tool_actions()
    assert {"cloudformation:CreateChangeSet", "cloudformation:SetStackPolicy", "s3:PutObject"} <= needed
    assert needed - allowed == set()


def test_pull_request_role_allows_every_call_a_change_set_preview_makes(template: Template) -> None:
    # Everything but executing, protecting and deleting a stack.
    preview = _deploy_tool_actions() - {
        "cloudformation:ExecuteChangeSet",
        "cloudformation:SetStackPolicy",
        "cloudformation:UpdateTerminationProtection",
        "cloudformation:DeleteStack",
    }
    assert preview - _allowed(template["Resources"]["PullRequestRole"]) == set()


def test_pull_requests_upload_templates_only_under_their_own_prefix(template: Template) -> None:
    def uploads(role: str) -> list[Any]:
        statements = _statements(template["Resources"][role])
        return [r for s in statements if "s3:PutObject" in s["Action"] for r in s["Resource"]]

    assert uploads("PullRequestRole") == [
        {"Fn::Join": ["", [{"Fn::GetAtt": ["ArtefactBucket", "Arn"]}, "/pull-requests/*"]]}
    ]
    for role in ("TestDeployRole", "ProdDeployRole"):
        assert all("pull-requests" not in json.dumps(r) for r in uploads(role))
