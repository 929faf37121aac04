"""Database stack: current PostgreSQL, private, encrypted, RDS-managed password, snapshots on delete."""

from __future__ import annotations

from typing import Any

from tests.cloudformation.helpers import Template, resources_of

Rendered = dict[str, dict[str, Template]]


def _db(rendered: Rendered, env_name: str) -> dict[str, Any]:
    (resource,) = resources_of(rendered[env_name]["database.json"], "AWS::RDS::DBInstance").values()
    return dict(resource)


def test_engine_is_a_current_postgresql_major(rendered: Rendered, env_name: str) -> None:
    props = _db(rendered, env_name)["Properties"]
    assert props["Engine"] == "postgres"
    assert int(props["EngineVersion"].split(".")[0]) >= 17


def test_database_is_private_and_encrypted(rendered: Rendered, env_name: str) -> None:
    props = _db(rendered, env_name)["Properties"]
    assert props["PubliclyAccessible"] is False
    assert props["StorageEncrypted"] is True
    assert props["VPCSecurityGroups"] == [{"Ref": "DatabaseSecurityGroupId"}]
    assert props["DBSubnetGroupName"] == {"Ref": "DatabaseSubnetGroup"}


def test_password_is_managed_by_rds_and_never_in_the_template(rendered: Rendered, env_name: str) -> None:
    props = _db(rendered, env_name)["Properties"]
    assert props["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in props
    assert "Password" not in str(rendered[env_name]["database.json"]["Parameters"])


def test_deletion_and_replacement_keep_a_snapshot(rendered: Rendered, env_name: str) -> None:
    db = _db(rendered, env_name)
    assert db["DeletionPolicy"] == "Snapshot"
    assert db["UpdateReplacePolicy"] == "Snapshot"


def test_automated_backups_are_on(rendered: Rendered, env_name: str) -> None:
    assert _db(rendered, env_name)["Properties"]["BackupRetentionPeriod"] >= 7


def test_prod_is_multi_az_with_deletion_protection(rendered: Rendered) -> None:
    props = _db(rendered, "prod")["Properties"]
    assert props["MultiAZ"] is True
    assert props["DeletionProtection"] is True


def test_test_skips_multi_az_with_a_written_reason(rendered: Rendered) -> None:
    db = _db(rendered, "test")
    assert db["Properties"]["MultiAZ"] is False
    (skip,) = db["Metadata"]["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_157"
    assert skip["comment"]


def test_subnet_group_uses_the_private_subnets(rendered: Rendered, env_name: str) -> None:
    template = rendered[env_name]["database.json"]
    (group,) = resources_of(template, "AWS::RDS::DBSubnetGroup").values()
    assert group["Properties"]["SubnetIds"] == {"Ref": "PrivateSubnetIds"}


def test_outputs_endpoint_and_secret_arn(rendered: Rendered, env_name: str) -> None:
    outputs = rendered[env_name]["database.json"]["Outputs"]
    assert outputs["DatabaseEndpoint"]["Value"] == {"Fn::GetAtt": ["Database", "Endpoint.Address"]}
    assert outputs["DatabaseSecretArn"]["Value"] == {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
