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


def test_deploy_role_trusts_only_this_repository_and_its_environments(template: Template) -> None:
    (statement,) = template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    condition = statement["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    subjects = [s["Fn::Sub"] for s in condition["token.actions.githubusercontent.com:sub"]]
    assert subjects == [
        "repo:${Repository}:environment:prod",
        "repo:${Repository}:environment:test",
        "repo:${Repository}:ref:refs/heads/main",
        "repo:${Repository}:pull_request",
    ]
    assert "StringLike" not in statement["Condition"]


def test_deploy_role_uses_wildcards_only_where_aws_has_no_resource_level_permission(template: Template) -> None:
    statements = _statements(template["Resources"]["DeployRole"])
    wildcard = sorted(a for s in statements if s["Resource"] == ["*"] for a in s["Action"])
    assert wildcard == [
        "cloudformation:GetTemplateSummary",
        "cloudformation:ValidateTemplate",
        "ecr:GetAuthorizationToken",
    ]
    assert all("*" not in a for s in statements for a in s["Action"])


def test_deploy_role_may_pass_only_the_execution_role_to_cloudformation(template: Template) -> None:
    (statement,) = [s for s in _statements(template["Resources"]["DeployRole"]) if s["Action"] == ["iam:PassRole"]]
    assert statement["Resource"] == [{"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


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


def test_deploy_role_allows_every_call_the_deploy_tool_makes(template: Template) -> None:
    allowed = {
        a for s in _statements(template["Resources"]["DeployRole"]) if s["Effect"] == "Allow" for a in s["Action"]
    }
    needed = _deploy_tool_actions()
    assert {"cloudformation:CreateChangeSet", "cloudformation:SetStackPolicy", "s3:PutObject"} <= needed
    assert needed - allowed == set()
