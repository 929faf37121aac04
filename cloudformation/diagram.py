"""The README's "Infrastructure" section, generated from the rendered templates so it cannot drift.

``python -m cloudformation.diagram`` prints the section; a test compares it with README.md between the
``architecture`` markers. Nodes come from each nested stack's resources, traffic edges from the security-group
rules, and dotted edges from the root's wiring of child outputs into sibling parameters.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from cloudformation import common, environments, render

BEGIN = "<!-- architecture:begin -->"
END = "<!-- architecture:end -->"

# Resource types worth a box, with their label. Everything else (routes, associations, rules) is detail.
_LABELS: dict[str, str] = {
    "AWS::EC2::VPC": "VPC",
    "AWS::EC2::InternetGateway": "Internet gateway",
    "AWS::EC2::Subnet": "Subnets",
    "AWS::EC2::VPCEndpoint": "VPC endpoints",
    "AWS::EC2::SecurityGroup": "Security groups",
    "AWS::RDS::DBInstance": "RDS PostgreSQL",
    "AWS::ECS::Cluster": "ECS cluster",
    "AWS::ECS::Service": "Fargate service",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "Application Load Balancer",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "Target group",
    "AWS::Logs::LogGroup": "Log group",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "Target tracking policies",
    "AWS::CloudWatch::Alarm": "CloudWatch alarms",
    "AWS::SNS::Topic": "SNS topic (encrypted)",
}
# Which box each security group protects, so its rules become edges between boxes.
_GROUP_OWNERS: dict[str, str] = {
    "LoadBalancerSecurityGroup": "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "ServiceSecurityGroup": "AWS::ECS::Service",
    "DatabaseSecurityGroup": "AWS::RDS::DBInstance",
    "EndpointSecurityGroup": "AWS::EC2::VPCEndpoint",
}
_INTERNET = "internet"


def _node_id(resource_type: str) -> str:
    return resource_type.split("::", 1)[1].replace("::", "_").lower()


def _boxes(template: dict[str, Any]) -> list[str]:
    counts = Counter(r["Type"] for r in template["Resources"].values() if r["Type"] in _LABELS)
    lines = []
    for resource_type in sorted(counts, key=list(_LABELS).index):
        label = _LABELS[resource_type]
        if counts[resource_type] > 1:
            label += f" x{counts[resource_type]}"
        lines.append(f'    {_node_id(resource_type)}["{label}"]')
    return lines


def _traffic_edges(network: dict[str, Any]) -> list[str]:
    edges = set()
    for logical_id, resource in network["Resources"].items():
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            rules = [(logical_id, r) for r in resource["Properties"].get("SecurityGroupIngress", [])]
        elif resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules = [(resource["Properties"]["GroupId"]["Ref"], resource["Properties"])]
        else:
            continue
        for group, rule in rules:
            target = _node_id(_GROUP_OWNERS[group])
            if "SourceSecurityGroupId" in rule:
                source = _node_id(_GROUP_OWNERS[rule["SourceSecurityGroupId"]["Ref"]])
            else:
                source = _INTERNET
            edges.add(f'  {source} -->|"tcp {rule["FromPort"]}"| {target}')
    return sorted(edges)


def _wiring_edges(root: dict[str, Any]) -> list[str]:
    edges = set()
    for logical_id, resource in root["Resources"].items():
        for value in resource["Properties"].get("Parameters", {}).values():
            if "Fn::GetAtt" in value:
                edges.add(f"  {value['Fn::GetAtt'][0]} -.->|outputs| {logical_id}")
    return sorted(edges)


def mermaid(env: environments.Environment) -> str:
    """A Mermaid flowchart of ``env``'s stacks, drawn from their rendered templates."""
    files = {name: json.loads(text) for name, text in render.render(env).items()}
    lines = ["flowchart LR", f'  {_INTERNET}(("Internet"))']
    for stack, file in common.CHILD_STACKS.items():
        lines.append(f'  subgraph {stack}["{stack.removesuffix("Stack").lower()} stack"]')
        lines.extend(_boxes(files[file]))
        lines.append("  end")
    lines.extend(_traffic_edges(files[common.CHILD_STACKS["NetworkStack"]]))
    lines.extend(_wiring_edges(files[common.ROOT_TEMPLATE]))
    return "\n".join(lines)


def _environment_table() -> list[str]:
    rows = [
        "| | " + " | ".join(environments.ENVIRONMENTS) + " |",
        "| --- |" + " --- |" * len(environments.ENVIRONMENTS),
    ]
    fields: list[tuple[str, Callable[[environments.Environment], str]]] = [
        ("Region", lambda e: e.region),
        ("VPC", lambda e: e.vpc_cidr),
        ("Task CPU / memory", lambda e: f"{e.task_cpu} / {e.task_memory} MiB"),
        ("Tasks (min / desired / max)", lambda e: f"{e.min_count} / {e.desired_count} / {e.max_count}"),
        ("Pool size per task", lambda e: str(e.pool_max_size)),
        ("Database", lambda e: f"{e.db_instance_class}, {e.db_allocated_storage_gib} GiB"),
        ("Connections needed / available", lambda e: f"{e.connections_needed} / {e.max_connections}"),
        ("Multi-AZ, deletion protection", lambda e: f"{e.db_multi_az}, {e.deletion_protection}"),
        ("Backups (days)", lambda e: str(e.db_backup_retention_days)),
        ("Alarm e-mail", lambda e: e.alarm_email),
    ]
    for label, value in fields:
        rows.append(f"| {label} | " + " | ".join(value(e) for e in environments.ENVIRONMENTS.values()) + " |")
    return rows


def readme_section() -> str:
    """The Markdown between the README's architecture markers (markers excluded)."""
    lines = [
        "## Infrastructure",
        "",
        "Orca runs on ECS Fargate in two availability zones behind a public Application Load Balancer, with",
        "PostgreSQL on RDS in private subnets. The templates are Python (`cloudformation/`, troposphere and awacs):",
        "one module per nested stack, a root that wires child outputs into sibling parameters, and a bootstrap",
        "stack (GitHub OIDC roles, CloudFormation roles, artefact bucket, ECR repository) deployed once by hand.",
        "",
        "```sh",
        "make templates    # python -m cloudformation --env test|prod --out cloudformation/templates/<env>",
        "make cfn-lint     # cfn-lint on every rendered template",
        "make checkov      # checkov --framework cloudformation --skip-download",
        "```",
        "",
        "The rendered templates are committed; a test fails when they are stale. The private subnets have no",
        "route to the internet: the tasks reach ECR, CloudWatch Logs and Secrets Manager through VPC endpoints.",
        "The database password is generated and kept by RDS in Secrets Manager and injected into the tasks by ECS.",
        "Environments are described in `cloudformation/environments.py`; the image tag and the optional",
        "certificate are deploy-time parameters of the root stack.",
        "",
        *_environment_table(),
        "",
        "Generated from the prod templates by `python -m cloudformation.diagram` (a test keeps it in sync):",
        "",
        "```mermaid",
        mermaid(environments.get("prod")),
        "```",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_section())
