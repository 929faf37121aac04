"""Network stack: two AZs from the region, public and private subnets, no internet route for the private ones,
VPC endpoints for what the tasks need, and the security-group chain internet -> ALB -> tasks -> database."""

from __future__ import annotations

from typing import Any

from tests.cloudformation.helpers import Template, only, resources_of

Rendered = dict[str, dict[str, Template]]


def _network(rendered: Rendered, env_name: str) -> Template:
    return rendered[env_name]["network.json"]


def _subnets(network: Template, prefix: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources_of(network, "AWS::EC2::Subnet").items() if k.startswith(prefix)}


def test_two_public_and_two_private_subnets(rendered: Rendered, env_name: str) -> None:
    network = _network(rendered, env_name)
    assert len(_subnets(network, "Public")) == 2
    assert len(_subnets(network, "Private")) == 2


def test_subnets_take_two_different_azs_from_the_region(rendered: Rendered, env_name: str) -> None:
    for prefix in ("Public", "Private"):
        azs = [s["AvailabilityZone"] for s in _subnets(_network(rendered, env_name), prefix).values()]
        assert sorted(azs, key=str) == [
            {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
            {"Fn::Select": [1, {"Fn::GetAZs": ""}]},
        ]


def test_no_subnet_assigns_public_ips(rendered: Rendered, env_name: str) -> None:
    for subnet in resources_of(_network(rendered, env_name), "AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_only_the_public_route_table_routes_through_the_internet_gateway(rendered: Rendered, env_name: str) -> None:
    network = _network(rendered, env_name)
    routes = resources_of(network, "AWS::EC2::Route").values()
    assert [r["Properties"]["RouteTableId"] for r in routes] == [{"Ref": "PublicRouteTable"}]
    assert all(r["Properties"]["GatewayId"] == {"Ref": "InternetGateway"} for r in routes)
    associations = resources_of(network, "AWS::EC2::SubnetRouteTableAssociation").values()
    private = [a["Properties"] for a in associations if a["Properties"]["SubnetId"]["Ref"].startswith("Private")]
    assert {a["RouteTableId"]["Ref"] for a in private} == {"PrivateRouteTable"}
    assert not any(r["Properties"].get("NatGatewayId") for r in routes)


def test_tasks_reach_ecr_logs_and_secrets_through_vpc_endpoints(rendered: Rendered, env_name: str) -> None:
    endpoints = resources_of(_network(rendered, env_name), "AWS::EC2::VPCEndpoint").values()
    services = {e["Properties"]["ServiceName"]["Fn::Sub"]: e["Properties"]["VpcEndpointType"] for e in endpoints}
    assert services == {
        "com.amazonaws.${AWS::Region}.ecr.api": "Interface",
        "com.amazonaws.${AWS::Region}.ecr.dkr": "Interface",
        "com.amazonaws.${AWS::Region}.logs": "Interface",
        "com.amazonaws.${AWS::Region}.secretsmanager": "Interface",
        "com.amazonaws.${AWS::Region}.s3": "Gateway",
    }


def _ingress(network: Template, group: str) -> list[dict[str, Any]]:
    sg = network["Resources"][group]["Properties"]
    rules = list(sg.get("SecurityGroupIngress", []))
    for rule in resources_of(network, "AWS::EC2::SecurityGroupIngress").values():
        if rule["Properties"]["GroupId"] == {"Ref": group}:
            rules.append(rule["Properties"])
    return rules


def test_load_balancer_admits_only_http_and_https_from_the_internet(rendered: Rendered, env_name: str) -> None:
    rules = _ingress(_network(rendered, env_name), "LoadBalancerSecurityGroup")
    assert sorted((r["FromPort"], r["ToPort"], r["CidrIp"]) for r in rules) == [
        (80, 80, "0.0.0.0/0"),
        (443, 443, "0.0.0.0/0"),
    ]


def test_tasks_admit_only_the_container_port_from_the_load_balancer(rendered: Rendered, env_name: str) -> None:
    rules = _ingress(_network(rendered, env_name), "ServiceSecurityGroup")
    assert [(r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]) for r in rules] == [
        (8080, 8080, {"Ref": "LoadBalancerSecurityGroup"})
    ]


def test_database_admits_only_postgres_from_the_tasks(rendered: Rendered, env_name: str) -> None:
    rules = _ingress(_network(rendered, env_name), "DatabaseSecurityGroup")
    assert [(r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]) for r in rules] == [
        (5432, 5432, {"Ref": "ServiceSecurityGroup"})
    ]


def test_load_balancer_and_database_groups_have_no_default_egress(rendered: Rendered, env_name: str) -> None:
    network = _network(rendered, env_name)
    for group in ("LoadBalancerSecurityGroup", "DatabaseSecurityGroup", "EndpointSecurityGroup"):
        egress = network["Resources"][group]["Properties"]["SecurityGroupEgress"]
        assert egress == [
            {
                "CidrIp": "255.255.255.255/32",
                "Description": "Disallow all traffic",
                "FromPort": 252,
                "IpProtocol": "icmp",
                "ToPort": 86,
            }
        ]


def test_vpc_uses_the_environment_cidr(rendered: Rendered, env_name: str) -> None:
    vpc = only(_network(rendered, env_name), "AWS::EC2::VPC")
    assert vpc["CidrBlock"] == {"test": "10.10.0.0/16", "prod": "10.20.0.0/16"}[env_name]
