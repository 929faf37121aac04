"""Alarms stack: an encrypted topic that e-mails the team, and the ALB, ECS and RDS alarms with both actions."""

from __future__ import annotations

from typing import Any

from cloudformation.environments import ENVIRONMENTS
from tests.cloudformation.helpers import Template, only, resources_of

Rendered = dict[str, dict[str, Template]]


def _alarms(rendered: Rendered, env_name: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = resources_of(rendered[env_name]["alarms.json"], "AWS::CloudWatch::Alarm").values()
    return {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"] for a in found}


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_topic_is_encrypted_with_a_key_cloudwatch_may_use(rendered: Rendered, env_name: str) -> None:
    template = rendered[env_name]["alarms.json"]
    assert only(template, "AWS::SNS::Topic")["KmsMasterKeyId"] == {"Fn::GetAtt": ["TopicKey", "Arn"]}
    key = only(template, "AWS::KMS::Key")
    principals = [s["Principal"] for s in key["KeyPolicy"]["Statement"]]
    assert {"Service": ["cloudwatch.amazonaws.com"]} in principals
    assert key["EnableKeyRotation"] is True


def test_topic_emails_the_environment_address(rendered: Rendered, env_name: str) -> None:
    subscription = only(rendered[env_name]["alarms.json"], "AWS::SNS::Subscription")
    assert subscription["Protocol"] == "email"
    assert subscription["Endpoint"] == ENVIRONMENTS[env_name].alarm_email


def test_alarms_cover_load_balancer_service_and_database(rendered: Rendered, env_name: str) -> None:
    assert sorted(_alarms(rendered, env_name)) == [
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("AWS/ECS", "CPUUtilization"),
        ("AWS/ECS", "MemoryUtilization"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/RDS", "FreeStorageSpace"),
    ]


def test_every_alarm_notifies_when_it_fires_and_when_it_clears(rendered: Rendered, env_name: str) -> None:
    for alarm in _alarms(rendered, env_name).values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}]


def test_no_alarm_watches_the_network_load_balancer_namespace(rendered: Rendered, env_name: str) -> None:
    assert "AWS/NetworkELB" not in str(rendered[env_name]["alarms.json"])


def test_load_balancer_alarms_use_the_full_name_dimensions(rendered: Rendered, env_name: str) -> None:
    alarms = _alarms(rendered, env_name)
    lb = {"Ref": "LoadBalancerFullName"}
    tg = {"Ref": "TargetGroupFullName"}
    assert _dimensions(alarms[("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count")]) == {"LoadBalancer": lb}
    for metric in ("HTTPCode_Target_5XX_Count", "UnHealthyHostCount", "TargetResponseTime"):
        assert _dimensions(alarms[("AWS/ApplicationELB", metric)]) == {"LoadBalancer": lb, "TargetGroup": tg}


def test_response_time_alarm_watches_p99(rendered: Rendered, env_name: str) -> None:
    alarm = _alarms(rendered, env_name)[("AWS/ApplicationELB", "TargetResponseTime")]
    assert alarm["ExtendedStatistic"] == "p99"
    assert "Statistic" not in alarm


def test_service_and_database_alarms_use_their_dimensions(rendered: Rendered, env_name: str) -> None:
    alarms = _alarms(rendered, env_name)
    service = {"ClusterName": {"Ref": "ClusterName"}, "ServiceName": {"Ref": "ServiceName"}}
    assert _dimensions(alarms[("AWS/ECS", "CPUUtilization")]) == service
    assert _dimensions(alarms[("AWS/ECS", "MemoryUtilization")]) == service
    for metric in ("CPUUtilization", "DatabaseConnections", "FreeStorageSpace"):
        assert _dimensions(alarms[("AWS/RDS", metric)]) == {"DBInstanceIdentifier": {"Ref": "DatabaseInstanceId"}}


def test_connection_alarm_fires_before_max_connections(rendered: Rendered, env_name: str) -> None:
    env = ENVIRONMENTS[env_name]
    alarm = _alarms(rendered, env_name)[("AWS/RDS", "DatabaseConnections")]
    assert env.connections_needed <= alarm["Threshold"] < env.max_connections


def test_free_storage_alarm_fires_when_storage_is_low(rendered: Rendered, env_name: str) -> None:
    alarm = _alarms(rendered, env_name)[("AWS/RDS", "FreeStorageSpace")]
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert 0 < alarm["Threshold"] < ENVIRONMENTS[env_name].db_allocated_storage_gib * 1024**3
