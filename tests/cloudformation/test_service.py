"""Service stack: cluster, task definition, ECS service, load balancer, listeners and roles."""

from __future__ import annotations

from typing import Any

from cloudformation.environments import ENVIRONMENTS
from tests.cloudformation.helpers import Template, only, resources_of

Rendered = dict[str, dict[str, Template]]


def _service(rendered: Rendered, env_name: str) -> Template:
    return rendered[env_name]["service.json"]


def _container(rendered: Rendered, env_name: str) -> dict[str, Any]:
    (container,) = only(_service(rendered, env_name), "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    return dict(container)


def test_cluster_has_container_insights(rendered: Rendered, env_name: str) -> None:
    cluster = only(_service(rendered, env_name), "AWS::ECS::Cluster")
    assert cluster["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]


def test_task_definition_is_fargate_sized_by_the_environment(rendered: Rendered, env_name: str) -> None:
    task = only(_service(rendered, env_name), "AWS::ECS::TaskDefinition")
    env = ENVIRONMENTS[env_name]
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert (task["Cpu"], task["Memory"]) == (str(env.task_cpu), str(env.task_memory))


def test_container_listens_on_8080(rendered: Rendered, env_name: str) -> None:
    assert _container(rendered, env_name)["PortMappings"] == [{"ContainerPort": 8080, "Protocol": "tcp"}]


def test_image_comes_from_the_repository_and_tag_parameters(rendered: Rendered, env_name: str) -> None:
    image = _container(rendered, env_name)["Image"]["Fn::Sub"]
    assert image[0] == "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${Repository}:${Tag}"
    assert image[1] == {"Repository": {"Ref": "ImageRepositoryName"}, "Tag": {"Ref": "ImageTag"}}


def test_logs_go_to_a_log_group_with_retention(rendered: Rendered, env_name: str) -> None:
    template = _service(rendered, env_name)
    log = _container(rendered, env_name)["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["awslogs-group"] == {"Ref": "LogGroup"}
    assert only(template, "AWS::Logs::LogGroup")["RetentionInDays"] == ENVIRONMENTS[env_name].log_retention_days


def test_database_location_is_plain_environment(rendered: Rendered, env_name: str) -> None:
    environment = {e["Name"]: e["Value"] for e in _container(rendered, env_name)["Environment"]}
    assert environment["PGHOST"] == {"Ref": "DatabaseEndpoint"}
    assert environment["PGPORT"] == {"Ref": "DatabasePort"}
    assert environment["PGDATABASE"] == {"Ref": "DatabaseName"}
    assert environment["PORT"] == "8080"
    assert environment["ORCA_TRUSTED_PROXIES"] == {"Ref": "VpcCidr"}
    assert environment["ORCA_POOL_MAX_SIZE"] == str(ENVIRONMENTS[env_name].pool_max_size)


def test_database_connections_require_tls(rendered: Rendered, env_name: str) -> None:
    environment = {e["Name"]: e["Value"] for e in _container(rendered, env_name)["Environment"]}
    assert environment["PGSSLMODE"] == "require"


def test_credentials_are_injected_from_the_rds_secret(rendered: Rendered, env_name: str) -> None:
    container = _container(rendered, env_name)
    secrets = {s["Name"]: s["ValueFrom"]["Fn::Sub"] for s in container["Secrets"]}
    assert secrets == {
        "PGPASSWORD": ["${Secret}:password::", {"Secret": {"Ref": "DatabaseSecretArn"}}],
        "PGUSER": ["${Secret}:username::", {"Secret": {"Ref": "DatabaseSecretArn"}}],
    }
    assert not {"PGUSER", "PGPASSWORD", "DATABASE_URL"} & {e["Name"] for e in container["Environment"]}


def test_stop_timeout_outlasts_the_apps_ten_second_drain(rendered: Rendered, env_name: str) -> None:
    assert _container(rendered, env_name)["StopTimeout"] > 10


def test_service_deploys_safely(rendered: Rendered, env_name: str) -> None:
    service = only(_service(rendered, env_name), "AWS::ECS::Service")
    assert service["DeploymentConfiguration"] == {
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        "MaximumPercent": 200,
        "MinimumHealthyPercent": 100,
    }
    assert 30 <= service["HealthCheckGracePeriodSeconds"] <= 60
    assert service["DesiredCount"] == ENVIRONMENTS[env_name].desired_count


def test_tasks_run_in_private_subnets_without_public_ips(rendered: Rendered, env_name: str) -> None:
    network = only(_service(rendered, env_name), "AWS::ECS::Service")["NetworkConfiguration"]
    assert network["AwsvpcConfiguration"] == {
        "AssignPublicIp": "DISABLED",
        "SecurityGroups": [{"Ref": "ServiceSecurityGroupId"}],
        "Subnets": {"Ref": "PrivateSubnetIds"},
    }


def test_load_balancer_is_public_in_the_public_subnets(rendered: Rendered, env_name: str) -> None:
    lb = only(_service(rendered, env_name), "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert lb["Scheme"] == "internet-facing"
    assert lb["Subnets"] == {"Ref": "PublicSubnetIds"}
    attributes = {a["Key"]: a["Value"] for a in lb["LoadBalancerAttributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "60"  # below the app's 75 s keep-alive


def test_target_group_checks_the_shallow_liveness_path(rendered: Rendered, env_name: str) -> None:
    tg = only(_service(rendered, env_name), "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert tg["TargetType"] == "ip"
    assert tg["Port"] == 8080
    assert tg["HealthCheckPath"] == "/_livez"
    assert 5 <= tg["HealthCheckIntervalSeconds"] <= 10
    assert tg["HealthCheckTimeoutSeconds"] == 5
    assert tg["HealthyThresholdCount"] == 2
    assert tg["UnhealthyThresholdCount"] in (2, 3)
    delay = {a["Key"]: a["Value"] for a in tg["TargetGroupAttributes"]}["deregistration_delay.timeout_seconds"]
    assert 5 <= int(delay) <= 60


def _listeners(rendered: Rendered, env_name: str) -> dict[str, dict[str, Any]]:
    return resources_of(_service(rendered, env_name), "AWS::ElasticLoadBalancingV2::Listener")


def test_http_redirects_to_https_with_a_certificate_and_forwards_without(rendered: Rendered, env_name: str) -> None:
    http = _listeners(rendered, env_name)["HttpListener"]["Properties"]
    assert http["Port"] == 80
    with_cert, without_cert = http["DefaultActions"]["Fn::If"][1:]
    assert http["DefaultActions"]["Fn::If"][0] == "HasCertificate"
    assert with_cert[0]["Type"] == "redirect"
    assert with_cert[0]["RedirectConfig"] == {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}
    assert without_cert == [{"TargetGroupArn": {"Ref": "TargetGroup"}, "Type": "forward"}]


def test_https_listener_exists_only_with_a_certificate_and_a_modern_policy(rendered: Rendered, env_name: str) -> None:
    template = _service(rendered, env_name)
    https = _listeners(rendered, env_name)["HttpsListener"]
    assert https["Condition"] == "HasCertificate"
    assert https["Properties"]["Protocol"] == "HTTPS"
    assert https["Properties"]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-")
    assert template["Conditions"]["HasCertificate"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}


def _policy_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def test_task_role_has_no_permissions(rendered: Rendered, env_name: str) -> None:
    role = _service(rendered, env_name)["Resources"]["TaskRole"]
    assert _policy_statements(role) == []
    assert "ManagedPolicyArns" not in role["Properties"]


def test_execution_role_uses_a_wildcard_only_for_the_ecr_token(rendered: Rendered, env_name: str) -> None:
    statements = _policy_statements(_service(rendered, env_name)["Resources"]["ExecutionRole"])
    wildcard = [s["Action"] for s in statements if s["Resource"] == ["*"]]
    assert wildcard == [["ecr:GetAuthorizationToken"]]
    assert all(not a.endswith("*") for s in statements for a in s["Action"])
    secret = [s for s in statements if s["Action"] == ["secretsmanager:GetSecretValue"]]
    assert secret[0]["Resource"] == [{"Ref": "DatabaseSecretArn"}]


def test_outputs_url_cluster_and_service(rendered: Rendered, env_name: str) -> None:
    outputs = _service(rendered, env_name)["Outputs"]
    assert {"ServiceUrl", "ClusterName", "ServiceName", "LoadBalancerFullName", "TargetGroupFullName"} <= set(outputs)
